using System.Security.Cryptography;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>One X25519 key exchange of a handshake on <see cref="OpenSslX25519"/>: <see cref="GenerateEphemeral"/>, <see cref="ReceivePeerValue"/>, <see cref="CalculateSecret"/>.</summary>
internal sealed class PlatformX25519Agreement(TlsCrypto crypto) : TlsAgreement
{
    private OpenSslX25519.KeyHandle? _privateKey;
    private byte[]? _peerValue;

    public byte[] GenerateEphemeral()
    {
        Span<byte> scalar = stackalloc byte[OpenSslX25519.KeySize];
        var publicValue = new byte[OpenSslX25519.KeySize];
        RandomNumberGenerator.Fill(scalar);
        try
        {
            _privateKey?.Dispose();
            _privateKey = OpenSslX25519.CreatePrivateKey(scalar, publicValue);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(scalar);
        }

        return publicValue;
    }

    public void ReceivePeerValue(byte[] peerValue)
    {
        if (peerValue is not { Length: OpenSslX25519.KeySize })
        {
            throw new TlsFatalAlert(AlertDescription.illegal_parameter, "an X25519 public value is 32 bytes");
        }

        _peerValue = (byte[])peerValue.Clone();
    }

    public TlsSecret CalculateSecret()
    {
        var privateKey = _privateKey ?? throw new TlsFatalAlert(AlertDescription.internal_error, "no ephemeral key");
        var peerValue = _peerValue ?? throw new TlsFatalAlert(AlertDescription.internal_error, "no peer value");
        var shared = new byte[OpenSslX25519.KeySize];
        try
        {
            if (!OpenSslX25519.TryDerive(privateKey, peerValue, shared))
            {
                throw new TlsFatalAlert(AlertDescription.illegal_parameter, "the peer's X25519 value is a small-order point");
            }

            return crypto.CreateSecret(shared);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(shared);
            privateKey.Dispose();
            _privateKey = null;
        }
    }
}
