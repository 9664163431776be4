using System.Security.Cryptography;
using Org.BouncyCastle.Tls;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// How a negotiated cipher suite protects records: the cipher, its key and IV lengths, and the MAC for CBC suites;
/// and the key block layout (RFC 5246 §6.3: client MAC key, server MAC key, client key, server key, client IV, server
/// IV; DTLS 1.2's CBC suites have explicit IVs and no IVs in the key block).
/// </summary>
internal sealed class RecordSuite
{
    private RecordSuite(int keyLength, int implicitIvLength, RecordAeadKind? aead, int tagLength, HashAlgorithmName? mac, int macKeyLength)
    {
        KeyLength = keyLength;
        ImplicitIvLength = implicitIvLength;
        Aead = aead;
        TagLength = tagLength;
        Mac = mac;
        MacKeyLength = macKeyLength;
    }

    public int KeyLength { get; }

    public int ImplicitIvLength { get; }

    /// <summary>The AEAD construction, or null for a CBC suite.</summary>
    public RecordAeadKind? Aead { get; }

    public int TagLength { get; }

    /// <summary>The HMAC of a CBC suite.</summary>
    public HashAlgorithmName? Mac { get; }

    public int MacKeyLength { get; }

    /// <summary>The key block's length for this suite.</summary>
    public int KeyBlockLength => (2 * MacKeyLength) + (2 * KeyLength) + (2 * ImplicitIvLength);

    /// <summary>Who computes the established records' ciphers here, for the log (event 17).</summary>
    public static string Providers =>
        $"AES-GCM by {Provider(RecordAeadKind.AesGcm)}, ChaCha20-Poly1305 by {Provider(RecordAeadKind.ChaCha20Poly1305)}, "
        + $"AES-CCM by {(OpenSslCcmAlgorithm.IsSupported ? $"libcrypto ({OpenSslEvp.LibraryName})" : PlatformAeadAlgorithm.IsSupported(RecordAeadKind.AesCcm) ? ".NET" : "BouncyCastle")}, "
        + $"AES-CBC by {(OpenSslCbcCipher.IsSupported ? $"libcrypto ({OpenSslEvp.LibraryName})" : ".NET")}";

    private static string Provider(RecordAeadKind kind) =>
        OpenSslAeadAlgorithm.IsSupported(kind) ? $"libcrypto ({OpenSslEvp.LibraryName})" : PlatformAeadAlgorithm.IsSupported(kind) ? ".NET" : "BouncyCastle";

    /// <summary>The record protection of <paramref name="cipherSuite"/>, or null when the transport has none for it.</summary>
    public static RecordSuite? Of(int cipherSuite)
    {
        int encryption = TlsUtilities.GetEncryptionAlgorithm(cipherSuite);
        return encryption switch
        {
            EncryptionAlgorithm.AES_128_GCM => Aead(16, 4, RecordAeadKind.AesGcm, 16),
            EncryptionAlgorithm.AES_256_GCM => Aead(32, 4, RecordAeadKind.AesGcm, 16),
            EncryptionAlgorithm.AES_128_CCM => Aead(16, 4, RecordAeadKind.AesCcm, 16),
            EncryptionAlgorithm.AES_256_CCM => Aead(32, 4, RecordAeadKind.AesCcm, 16),
            EncryptionAlgorithm.AES_128_CCM_8 => Aead(16, 4, RecordAeadKind.AesCcm, 8),
            EncryptionAlgorithm.AES_256_CCM_8 => Aead(32, 4, RecordAeadKind.AesCcm, 8),
            EncryptionAlgorithm.CHACHA20_POLY1305 => Aead(32, 12, RecordAeadKind.ChaCha20Poly1305, 16),
            EncryptionAlgorithm.AES_128_CBC => Cbc(16, TlsUtilities.GetMacAlgorithm(cipherSuite)),
            EncryptionAlgorithm.AES_256_CBC => Cbc(32, TlsUtilities.GetMacAlgorithm(cipherSuite)),
            _ => null,
        };

        static RecordSuite Aead(int key, int iv, RecordAeadKind kind, int tag) => new(key, iv, kind, tag, mac: null, macKeyLength: 0);

        static RecordSuite? Cbc(int key, int macAlgorithm) => macAlgorithm switch
        {
            MacAlgorithm.hmac_sha1 => new(key, 0, aead: null, 0, HashAlgorithmName.SHA1, 20),
            MacAlgorithm.hmac_sha256 => new(key, 0, aead: null, 0, HashAlgorithmName.SHA256, 32),
            MacAlgorithm.hmac_sha384 => new(key, 0, aead: null, 0, HashAlgorithmName.SHA384, 48),
            _ => null,
        };
    }

    /// <summary>The cipher for one direction, keyed from the key block.</summary>
    /// <param name="keyBlock">The whole key block.</param>
    /// <param name="client">The client's keys (the client writes with them, the server reads), else the server's.</param>
    /// <param name="encryptThenMac">RFC 7366 negotiated (CBC suites).</param>
    /// <param name="connectionId">The direction's Connection ID, or empty.</param>
    /// <param name="bouncyCastle">Use BouncyCastle's AEAD even where the platform has one (the tests' second implementation).</param>
    /// <remarks>
    /// AES-CCM goes to libcrypto directly where it is there (<see cref="OpenSslCcmAlgorithm"/>: .NET's <c>AesCcm</c>
    /// builds a native context per record), and so do AES-GCM and ChaCha20-Poly1305 (<see cref="OpenSslAeadAlgorithm"/>:
    /// less work per call than .NET's <c>AesGcm</c> and <c>ChaCha20Poly1305</c>); .NET's or BouncyCastle's elsewhere.
    /// </remarks>
    public RecordCipher CreateCipher(ReadOnlySpan<byte> keyBlock, bool client, bool encryptThenMac, ReadOnlySpan<byte> connectionId, bool bouncyCastle = false)
    {
        int macKeys = 2 * MacKeyLength;
        var macKey = keyBlock.Slice(client ? 0 : MacKeyLength, MacKeyLength);
        var key = keyBlock.Slice(macKeys + (client ? 0 : KeyLength), KeyLength);
        var iv = keyBlock.Slice(macKeys + (2 * KeyLength) + (client ? 0 : ImplicitIvLength), ImplicitIvLength);
        if (Aead is not { } kind)
        {
            return new CbcHmacRecordCipher(key, macKey, Mac!.Value, encryptThenMac, connectionId);
        }

        AeadAlgorithm algorithm = bouncyCastle ? new BouncyCastleAeadAlgorithm(kind, key, TagLength)
            : kind == RecordAeadKind.AesCcm && OpenSslCcmAlgorithm.IsSupported ? new OpenSslCcmAlgorithm(key, TagLength)
            : OpenSslAeadAlgorithm.IsSupported(kind) ? new OpenSslAeadAlgorithm(kind, key)
            : PlatformAeadAlgorithm.IsSupported(kind) ? PlatformAeadAlgorithm.Create(kind, key, TagLength)
            : new BouncyCastleAeadAlgorithm(kind, key, TagLength);
        return new AeadRecordCipher(algorithm, iv, connectionId);
    }
}
