namespace SukatDtls.Transport.Internal;

/// <summary>
/// One key of an AEAD cipher (AES-GCM, AES-CCM, ChaCha20-Poly1305) for one direction of a connection's records, on
/// caller-provided spans: nothing is allocated per record. Not thread-safe: the record layer serialises each direction.
/// </summary>
internal abstract class AeadAlgorithm : IDisposable
{
    protected AeadAlgorithm(int tagLength)
    {
        TagLength = tagLength;
    }

    /// <summary>The authentication tag's length (16, or 8 for CCM_8).</summary>
    public int TagLength { get; }

    /// <summary>Encrypts <paramref name="plaintext"/> into <paramref name="ciphertext"/> (same length; may be the same span) and writes the tag.</summary>
    public abstract void Encrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, Span<byte> ciphertext, Span<byte> tag, ReadOnlySpan<byte> associatedData);

    /// <summary>Decrypts and authenticates; false (nothing trustworthy in <paramref name="plaintext"/>) when the tag does not match.</summary>
    public abstract bool TryDecrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> tag, Span<byte> plaintext, ReadOnlySpan<byte> associatedData);

    public abstract void Dispose();
}
