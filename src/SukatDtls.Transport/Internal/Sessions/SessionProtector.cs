using System.Buffers.Binary;
using System.Security.Cryptography;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// Encrypts stored sessions at rest (they hold master secrets), with AES-256-GCM under a key every node derives from the
/// configured <see cref="DtlsDistributedSessionCacheOptions.EncryptionKey"/>, so that a copy of the store gives an
/// attacker nothing and a changed byte is found.
/// </summary>
/// <remarks>
/// <para>A sealed session: <c>u8 format (1) | 4-byte key id | 12-byte random nonce | 16-byte tag | ciphertext</c>.</para>
/// <para>
/// The additional data is a label, the key id and the session ID the blob is stored under: a blob moved to another
/// session ID (another key in the store) does not open, so nobody with write access to the store can hand one client's
/// session to another ID. The key id (from the key, by HKDF; it reveals nothing of it) tells a blob sealed under another
/// key (nodes configured with different keys) from a tampered one, for the log. Keys come from the configured secret by
/// HKDF-SHA256, so a 16-byte secret gives a full AES-256 key and the same secret used elsewhere gives other keys.
/// </para>
/// </remarks>
internal sealed class SessionProtector
{
    public const byte Format1 = 1;
    private const int KeyIdLength = 4;
    private const int NonceLength = 12;
    private const int TagLength = 16;
    private const int HeaderLength = 1 + KeyIdLength + NonceLength + TagLength;

    private static readonly byte[] s_label = "SukatDtls session v1"u8.ToArray();

    private readonly byte[] _key;

    public SessionProtector(ReadOnlySpan<byte> secret)
    {
        _key = HKDF.DeriveKey(HashAlgorithmName.SHA256, secret.ToArray(), 32, salt: [], info: "SukatDtls session encryption key v1"u8.ToArray());
        KeyId = BinaryPrimitives.ReadUInt32BigEndian(
            HKDF.DeriveKey(HashAlgorithmName.SHA256, secret.ToArray(), KeyIdLength, salt: [], info: "SukatDtls session key id v1"u8.ToArray()));
    }

    /// <summary>Names the key in blobs and logs (not secret).</summary>
    public uint KeyId { get; }

    /// <summary>Encrypts <paramref name="plaintext"/> for storage under <paramref name="sessionId"/>.</summary>
    public byte[] Seal(ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> sessionId)
    {
        byte[] blob = new byte[HeaderLength + plaintext.Length];
        blob[0] = Format1;
        BinaryPrimitives.WriteUInt32BigEndian(blob.AsSpan(1, KeyIdLength), KeyId);
        var nonce = blob.AsSpan(1 + KeyIdLength, NonceLength);
        RandomNumberGenerator.Fill(nonce);
        Span<byte> additionalData = stackalloc byte[AdditionalDataLength(sessionId)];
        WriteAdditionalData(additionalData, KeyId, sessionId);

        // One AesGcm per call: an instance is not safe for concurrent use, and handshakes seal concurrently.
        using var aes = new AesGcm(_key, TagLength);
        aes.Encrypt(nonce, plaintext, blob.AsSpan(HeaderLength), blob.AsSpan(1 + KeyIdLength + NonceLength, TagLength), additionalData);
        return blob;
    }

    /// <summary>
    /// Decrypts a blob stored under <paramref name="sessionId"/> into a new array (the caller zeroes it), or says why it
    /// does not open.
    /// </summary>
    public OpenResult TryOpen(ReadOnlySpan<byte> blob, ReadOnlySpan<byte> sessionId, out byte[]? plaintext, out uint keyId)
    {
        plaintext = null;
        keyId = 0;
        if (blob.Length < HeaderLength || blob[0] != Format1)
        {
            return OpenResult.Malformed;
        }

        keyId = BinaryPrimitives.ReadUInt32BigEndian(blob.Slice(1, KeyIdLength));
        if (keyId != KeyId)
        {
            return OpenResult.OtherKey;
        }

        Span<byte> additionalData = stackalloc byte[AdditionalDataLength(sessionId)];
        WriteAdditionalData(additionalData, keyId, sessionId);
        byte[] output = new byte[blob.Length - HeaderLength];
        using var aes = new AesGcm(_key, TagLength);
        try
        {
            aes.Decrypt(blob.Slice(1 + KeyIdLength, NonceLength), blob[HeaderLength..], blob.Slice(1 + KeyIdLength + NonceLength, TagLength),
                output, additionalData);
        }
        catch (AuthenticationTagMismatchException)
        {
            return OpenResult.Tampered;
        }

        plaintext = output;
        return OpenResult.Opened;
    }

    private static int AdditionalDataLength(ReadOnlySpan<byte> sessionId) => s_label.Length + KeyIdLength + 1 + sessionId.Length;

    private static void WriteAdditionalData(Span<byte> destination, uint keyId, ReadOnlySpan<byte> sessionId)
    {
        s_label.CopyTo(destination);
        BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(s_label.Length, KeyIdLength), keyId);
        destination[s_label.Length + KeyIdLength] = checked((byte)sessionId.Length);
        sessionId.CopyTo(destination[(s_label.Length + KeyIdLength + 1)..]);
    }

    /// <summary>What became of a stored blob.</summary>
    public enum OpenResult
    {
        Opened,

        /// <summary>Too short, or a format we do not know.</summary>
        Malformed,

        /// <summary>Sealed under another key (a node with another <see cref="DtlsDistributedSessionCacheOptions.EncryptionKey"/>).</summary>
        OtherKey,

        /// <summary>Our key, but it does not authenticate: changed bytes, or moved from another session ID.</summary>
        Tampered,
    }
}
