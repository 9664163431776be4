using System.Security.Cryptography;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// AES-CCM (RFC 6655, 7251; 16- or 8-byte tag, 12-byte nonce) on one EVP context of the system libcrypto, kept for the
/// connection's direction: nothing is allocated per record, where .NET's <see cref="AesCcm"/> creates a native context
/// (and a managed handle) for every call. Checked against <see cref="AesCcm"/> once, at first use.
/// </summary>
internal sealed unsafe class OpenSslCcmAlgorithm : AeadAlgorithm
{
    private const int NonceLength = 12;

    private static readonly Lazy<bool> s_supported = new(SelfTest);

    private readonly OpenSslCipherContext _context = new();
    private readonly byte[] _key;
    private readonly nint _cipher;

    public OpenSslCcmAlgorithm(ReadOnlySpan<byte> key, int tagLength)
        : base(tagLength)
    {
        _key = key.ToArray();
        _cipher = key.Length == 32 ? OpenSslEvp.Aes256Ccm : OpenSslEvp.Aes128Ccm;
    }

    /// <summary>Whether libcrypto is there and computes what .NET's AES-CCM computes.</summary>
    public static bool IsSupported => OpenSslEvp.IsAvailable && s_supported.Value;

    public override void Encrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, Span<byte> ciphertext, Span<byte> tag, ReadOnlySpan<byte> associatedData)
    {
        if (!Run(encrypt: true, nonce, plaintext, ciphertext, tag, associatedData))
        {
            OpenSslEvp.ClearErrors();
            throw new CryptographicException("libcrypto's AES-CCM encryption failed.");
        }
    }

    public override bool TryDecrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> tag, Span<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        if (Run(encrypt: false, nonce, ciphertext, plaintext, tag, associatedData))
        {
            return true;
        }

        OpenSslEvp.ClearErrors();
        plaintext[..ciphertext.Length].Clear();
        return false;
    }

    /// <summary>One record through libcrypto: encrypt (the tag is written to <c>tag</c>) or decrypt (checked against it).</summary>
    private bool Run(bool encrypt, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> input, Span<byte> output, ReadOnlySpan<byte> tag, ReadOnlySpan<byte> associatedData)
    {
        if (nonce.Length != NonceLength || tag.Length != TagLength || output.Length < input.Length)
        {
            return false;
        }

        bool added = false;
        try
        {
            _context.DangerousAddRef(ref added);
            nint context = _context.DangerousGetHandle();
            int enc = encrypt ? 1 : 0;
            int written;

            // An empty message must still go through the data step (where the tag is checked): libcrypto takes a call
            // with null buffers for the length step, so empty data gets a real, empty buffer.
            byte empty = 0;
            fixed (byte* key = _key)
            fixed (byte* iv = nonce)
            fixed (byte* tagPointer = tag)
            fixed (byte* ad = associatedData)
            fixed (byte* inPointer = input)
            fixed (byte* outPointer = output)
            {
                // CCM needs its parameters, then the key and nonce, then the message length, before any data.
                return OpenSslEvp.Init(context, _cipher, 0, null, null, enc) == 1
                    && OpenSslEvp.Ctrl(context, OpenSslEvp.CtrlAeadSetIvLength, NonceLength, null) == 1
                    && OpenSslEvp.Ctrl(context, OpenSslEvp.CtrlAeadSetTag, TagLength, encrypt ? null : tagPointer) == 1
                    && OpenSslEvp.Init(context, 0, 0, key, iv, enc) == 1
                    && OpenSslEvp.Update(context, null, &written, null, input.Length) == 1
                    && (associatedData.IsEmpty || OpenSslEvp.Update(context, null, &written, ad, associatedData.Length) == 1)
                    && OpenSslEvp.Update(context, input.IsEmpty ? &empty : outPointer, &written, input.IsEmpty ? &empty : inPointer, input.Length) == 1
                    && (!encrypt || (OpenSslEvp.Final(context, input.IsEmpty ? &empty : outPointer + written, &written) == 1
                        && OpenSslEvp.Ctrl(context, OpenSslEvp.CtrlAeadGetTag, TagLength, tagPointer) == 1));
            }
        }
        finally
        {
            if (added)
            {
                _context.DangerousRelease();
            }
        }
    }

    public override void Dispose()
    {
        _context.Dispose();
        CryptographicOperations.ZeroMemory(_key);
    }

    /// <summary>One record each way, both tag lengths, against .NET's <see cref="AesCcm"/>.</summary>
    private static bool SelfTest()
    {
        if (!AesCcm.IsSupported)
        {
            return true; // nothing to compare with; libcrypto's CCM is then the only one the platform has
        }

        try
        {
            byte[] key = RandomNumberGenerator.GetBytes(16), nonce = RandomNumberGenerator.GetBytes(NonceLength), ad = RandomNumberGenerator.GetBytes(13);
            foreach (int length in new[] { 100, 0 })
            foreach (int tagLength in new[] { 16, 8 })
            {
                byte[] plaintext = RandomNumberGenerator.GetBytes(length);
                using var ours = new OpenSslCcmAlgorithm(key, tagLength);
                using var dotnet = new AesCcm(key);
                byte[] ciphertext = new byte[length], tag = new byte[tagLength], expected = new byte[length], expectedTag = new byte[tagLength], back = new byte[length];
                ours.Encrypt(nonce, plaintext, ciphertext, tag, ad);
                dotnet.Encrypt(nonce, plaintext, expected, expectedTag, ad);
                tag[0] ^= 1;
                bool tamperedRefused = !ours.TryDecrypt(nonce, ciphertext, tag, back, ad);
                tag[0] ^= 1;
                if (!ciphertext.AsSpan().SequenceEqual(expected) || !tag.AsSpan().SequenceEqual(expectedTag) || !tamperedRefused
                    || !ours.TryDecrypt(nonce, ciphertext, tag, back, ad) || !back.AsSpan().SequenceEqual(plaintext))
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
}
