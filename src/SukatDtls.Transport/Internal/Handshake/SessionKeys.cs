using System.Security.Cryptography;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto;
using Org.BouncyCastle.Tls.Crypto.Impl;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// What the record layer needs from a finished handshake: the suite, the key block, encrypt-then-MAC and the
/// Connection IDs. Captured in BouncyCastle's <c>NotifyHandshakeComplete</c>, the last moment the master secret lives
/// (BouncyCastle clears it when <c>Accept</c>/<c>Connect</c> returns).
/// </summary>
internal sealed class SessionKeys : IDisposable
{
    private SessionKeys(RecordSuite suite, byte[] keyBlock, bool isServer, bool encryptThenMac, byte[] connectionIdWrite, byte[] connectionIdRead,
        int plaintextLimit)
    {
        PlaintextLimit = plaintextLimit;
        Suite = suite;
        KeyBlock = keyBlock;
        IsServer = isServer;
        EncryptThenMac = encryptThenMac;
        ConnectionIdWrite = connectionIdWrite;
        ConnectionIdRead = connectionIdRead;
    }

    public RecordSuite Suite { get; }

    /// <summary>The key block (RFC 5246 §6.3); zeroed by <see cref="Dispose"/> once the ciphers are made.</summary>
    public byte[] KeyBlock { get; }

    public bool IsServer { get; }

    public bool EncryptThenMac { get; }

    /// <summary>
    /// The largest plaintext of a record both ways: 2^14, or what the max_fragment_length extension (RFC 6066 §4)
    /// negotiated (2^9 to 2^12).
    /// </summary>
    public int PlaintextLimit { get; }

    /// <summary>The Connection ID our records carry (the peer chose it); empty without one.</summary>
    public byte[] ConnectionIdWrite { get; }

    /// <summary>The Connection ID the peer's records carry (we chose it); empty without one.</summary>
    public byte[] ConnectionIdRead { get; }

    /// <summary>Derives the key block from the live master secret (<c>NotifyHandshakeComplete</c> only).</summary>
    /// <exception cref="TlsFatalAlert">The negotiated suite has no record protection here (never for the suites the transport offers).</exception>
    public static SessionKeys Capture(TlsContext context)
    {
        var parameters = context.SecurityParameters;
        var suite = RecordSuite.Of(parameters.CipherSuite)
            ?? throw new TlsFatalAlert(AlertDescription.internal_error, $"no record protection for cipher suite 0x{parameters.CipherSuite:X4}");
        if (parameters.IsTruncatedHmac)
        {
            throw new TlsFatalAlert(AlertDescription.internal_error, "truncated HMAC is not supported");
        }

        byte[] keyBlock = TlsImplUtilities.CalculateKeyBlock(new TlsCryptoParameters(context), suite.KeyBlockLength);
        int plaintextLimit = MaxFragmentLength.IsValid(parameters.MaxFragmentLength)
            ? 1 << (8 + parameters.MaxFragmentLength)
            : DtlsRecordLayer.MaxPlaintextLength;
        return new SessionKeys(suite, keyBlock, context.IsServer, parameters.IsEncryptThenMac,
            parameters.ConnectionIDLocal ?? [], parameters.ConnectionIDPeer ?? [], plaintextLimit);
    }

    /// <summary>The cipher for the peer's records.</summary>
    public RecordCipher CreateReadCipher() => Suite.CreateCipher(KeyBlock, client: IsServer, EncryptThenMac, ConnectionIdRead);

    /// <summary>The cipher for our records.</summary>
    public RecordCipher CreateWriteCipher() => Suite.CreateCipher(KeyBlock, client: !IsServer, EncryptThenMac, ConnectionIdWrite);

    public void Dispose() => CryptographicOperations.ZeroMemory(KeyBlock);
}
