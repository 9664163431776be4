using System.Security.Cryptography;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// An AEAD record cipher on the system libcrypto, running each record on the thread's EVP context for its direction
/// (<see cref="OpenSslThreadCipherContexts"/>): what the libcrypto ciphers share (which context, failures, the key's
/// erasure, the self-test against .NET's cipher); each cipher says how one record goes through the context
/// (<see cref="Run"/>).
/// </summary>
internal abstract unsafe class OpenSslEvpAeadAlgorithm : AeadAlgorithm
{
    protected const int NonceLength = 12;

    // Who keyed a thread's context last: this instance's token says whether the key schedule there is ours.
    private readonly long _owner = OpenSslThreadCipherContexts.NewOwner();

    // A thread's context may still hold the key schedule after Dispose: refuse records then, as a freed context did.
    private bool _disposed;

    protected OpenSslEvpAeadAlgorithm(ReadOnlySpan<byte> key, int tagLength, nint cipher)
        : base(tagLength)
    {
        Key = key.ToArray();
        Cipher = cipher;
    }

    protected byte[] Key { get; }

    /// <summary>The EVP cipher (libcrypto's static, never freed).</summary>
    protected nint Cipher { get; }

    /// <summary>What the cipher is called in an exception.</summary>
    protected abstract string Name { get; }

    public sealed override void Encrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, Span<byte> ciphertext, Span<byte> tag, ReadOnlySpan<byte> associatedData)
    {
        if (!RunOnContext(encrypt: true, nonce, plaintext, ciphertext, tag, associatedData))
        {
            OpenSslEvp.ClearErrors();
            throw new CryptographicException($"libcrypto's {Name} encryption failed.");
        }
    }

    public sealed override bool TryDecrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> tag, Span<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        if (RunOnContext(encrypt: false, nonce, ciphertext, plaintext, tag, associatedData))
        {
            return true;
        }

        // A forged record's failure must not stay on this thread's error queue for the next user of libcrypto.
        OpenSslEvp.ClearErrors();
        plaintext[..ciphertext.Length].Clear();
        return false;
    }

    public sealed override void Dispose()
    {
        _disposed = true;
        CryptographicOperations.ZeroMemory(Key);
    }

    /// <summary>
    /// One record through the context: encrypt (the tag is written to <paramref name="tag"/>) or decrypt (checked against
    /// it). <paramref name="keying"/>: what the context already holds of <see cref="Cipher"/> and the key. False on any
    /// failure, a tag that does not match among them.
    /// </summary>
    protected abstract bool Run(nint context, EvpContextKeying keying, bool encrypt, byte* key, byte* nonce, byte* input, int inputLength, byte* output, byte* tag, byte* associatedData, int associatedDataLength);

    /// <summary>
    /// Whether <paramref name="ours"/> seals what <paramref name="reference"/> (.NET's cipher) seals and opens it again,
    /// and refuses a tampered tag: records of 100 and 0 bytes, under random keys of each of <paramref name="keyLengths"/>.
    /// </summary>
    protected static bool AgreesWith(int[] keyLengths, int tagLength, Func<byte[], OpenSslEvpAeadAlgorithm> ours, Func<byte[], AeadReference> reference)
    {
        try
        {
            foreach (int keyLength in keyLengths)
            foreach (int length in new[] { 100, 0 })
            {
                byte[] key = RandomNumberGenerator.GetBytes(keyLength), nonce = RandomNumberGenerator.GetBytes(NonceLength), ad = RandomNumberGenerator.GetBytes(13);
                byte[] plaintext = RandomNumberGenerator.GetBytes(length);
                byte[] ciphertext = new byte[length], tag = new byte[tagLength], expected = new byte[length], expectedTag = new byte[tagLength], back = new byte[length];
                using var algorithm = ours(key);
                algorithm.Encrypt(nonce, plaintext, ciphertext, tag, ad);
                reference(key)(nonce, plaintext, expected, expectedTag, ad);
                tag[0] ^= 1;
                bool tamperedRefused = !algorithm.TryDecrypt(nonce, ciphertext, tag, back, ad);
                tag[0] ^= 1;
                if (!ciphertext.AsSpan().SequenceEqual(expected) || !tag.AsSpan().SequenceEqual(expectedTag) || !tamperedRefused
                    || !algorithm.TryDecrypt(nonce, ciphertext, tag, back, ad) || !back.AsSpan().SequenceEqual(plaintext))
                {
                    return false;
                }
            }

            return true;
        }
        catch (Exception ex) when (ex is CryptographicException or EntryPointNotFoundException or DllNotFoundException)
        {
            return false;
        }
    }

    /// <summary>.NET's encryption of one record under a key: nonce, plaintext, ciphertext, tag, associated data.</summary>
    protected delegate void AeadReference(byte[] nonce, byte[] plaintext, byte[] ciphertext, byte[] tag, byte[] associatedData);

    private bool RunOnContext(bool encrypt, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> input, Span<byte> output, ReadOnlySpan<byte> tag, ReadOnlySpan<byte> associatedData)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (nonce.Length != NonceLength || tag.Length != TagLength || output.Length < input.Length)
        {
            return false;
        }

        nint context = OpenSslThreadCipherContexts.Take(encrypt, _owner, Cipher, out var keying, out int slot);

        // Empty data must still go through the data step (where a tag may be checked): libcrypto takes a null buffer as
        // "no data step", so empty data gets a real, empty buffer.
        byte empty = 0;
        fixed (byte* key = Key)
        fixed (byte* iv = nonce)
        fixed (byte* tagPointer = tag)
        fixed (byte* ad = associatedData)
        fixed (byte* inPointer = input)
        fixed (byte* outPointer = output)
        {
            if (!Run(context, keying, encrypt, key, iv, input.IsEmpty ? &empty : inPointer, input.Length,
                input.IsEmpty ? &empty : outPointer, tagPointer, associatedData.IsEmpty ? null : ad, associatedData.Length))
            {
                return false; // the context's state is not known: the thread's next record keys it again
            }
        }

        OpenSslThreadCipherContexts.Keyed(encrypt, slot, _owner, Cipher);
        return true;
    }
}
