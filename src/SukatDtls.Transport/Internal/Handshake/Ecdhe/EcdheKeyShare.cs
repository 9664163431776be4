using System.Security.Cryptography;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.Internal.Ecdhe;

/// <summary>
/// The server's ephemeral ECDHE key for one handshake (RFC 8422): X25519 through the system's libcrypto
/// (<see cref="OpenSslX25519"/>), or P-256 through .NET's <see cref="ECDiffieHellman"/> (OpenSSL on Linux). Both
/// validate the client's public value: an X25519 result of all zeros (a small-order point) and a P-256 point that is not
/// on the curve are refused.
/// </summary>
internal sealed class EcdheKeyShare : IDisposable
{
    private const int P256CoordinateLength = 32;

    private readonly OpenSslX25519.KeyHandle? _x25519;
    private readonly ECDiffieHellman? _p256;
    private readonly byte[] _publicKey;

    private EcdheKeyShare(OpenSslX25519.KeyHandle? x25519, ECDiffieHellman? p256, byte[] publicKey)
    {
        _x25519 = x25519;
        _p256 = p256;
        _publicKey = publicKey;
    }

    /// <summary>Our public value as the ServerKeyExchange carries it (RFC 8422 §5.4: X25519's 32 bytes, P-256 uncompressed).</summary>
    public ReadOnlySpan<byte> PublicKey => _publicKey;

    /// <summary>The shared secret's length (the premaster secret).</summary>
    public int SecretLength => _x25519 is not null ? OpenSslX25519.KeySize : P256CoordinateLength;

    /// <summary>How many random bytes <see cref="Create"/> takes for <paramref name="namedGroup"/> (X25519's private scalar; P-256 draws its own).</summary>
    public static int RandomLength(int namedGroup) => namedGroup == Org.BouncyCastle.Tls.NamedGroup.x25519 ? OpenSslX25519.KeySize : 0;

    /// <summary>Makes the key; <paramref name="random"/> (<see cref="RandomLength"/> fresh random bytes, drawn with the handshake's others) becomes X25519's private scalar.</summary>
    public static EcdheKeyShare Create(int namedGroup, ReadOnlySpan<byte> random)
    {
        if (namedGroup == Org.BouncyCastle.Tls.NamedGroup.x25519)
        {
            byte[] publicKey = new byte[OpenSslX25519.KeySize];
            return new EcdheKeyShare(OpenSslX25519.CreatePrivateKey(random, publicKey), null, publicKey);
        }

        var ecdh = ECDiffieHellman.Create(ECCurve.NamedCurves.nistP256);
        var parameters = ecdh.ExportParameters(includePrivateParameters: false);
        byte[] point = new byte[1 + (2 * P256CoordinateLength)];
        point[0] = 0x04; // uncompressed
        parameters.Q.X!.CopyTo(point, 1);
        parameters.Q.Y!.CopyTo(point, 1 + P256CoordinateLength);
        return new EcdheKeyShare(null, ecdh, point);
    }

    /// <summary>
    /// The shared secret with the client's public value (its ClientKeyExchange), into <paramref name="secret"/>
    /// (<see cref="SecretLength"/> bytes). False when the value is malformed or not a valid public key.
    /// </summary>
    public bool TryAgree(ReadOnlySpan<byte> peerPublicKey, Span<byte> secret)
    {
        if (_x25519 is not null)
        {
            return peerPublicKey.Length == OpenSslX25519.KeySize && OpenSslX25519.TryDerive(_x25519, peerPublicKey, secret);
        }

        if (peerPublicKey.Length != 1 + (2 * P256CoordinateLength) || peerPublicKey[0] != 0x04)
        {
            return false;
        }

        try
        {
            using var peer = ECDiffieHellman.Create(new ECParameters
            {
                Curve = ECCurve.NamedCurves.nistP256,
                Q = new ECPoint
                {
                    X = peerPublicKey.Slice(1, P256CoordinateLength).ToArray(),
                    Y = peerPublicKey.Slice(1 + P256CoordinateLength, P256CoordinateLength).ToArray(),
                },
            });
            byte[] shared = _p256!.DeriveRawSecretAgreement(peer.PublicKey);
            shared.CopyTo(secret);
            CryptographicOperations.ZeroMemory(shared);
            return true;
        }
        catch (CryptographicException)
        {
            // Not a point on the curve.
            return false;
        }
    }

    public void Dispose()
    {
        _x25519?.Dispose();
        _p256?.Dispose();
    }
}
