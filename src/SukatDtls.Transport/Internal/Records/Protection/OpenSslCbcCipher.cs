using System.Security.Cryptography;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// AES-CBC without padding on one EVP context of the system libcrypto, kept for the connection's direction: nothing
/// is allocated per record, where <c>Aes.EncryptCbc</c> allocates for every call. Checked against .NET's <see cref="Aes"/>
/// once, at first use.
/// </summary>
internal sealed unsafe class OpenSslCbcCipher : IDisposable
{
    private static readonly Lazy<bool> s_supported = new(SelfTest);

    private readonly OpenSslCipherContext _context = new();
    private readonly byte[] _key;
    private readonly nint _cipher;

    public OpenSslCbcCipher(ReadOnlySpan<byte> key)
    {
        _key = key.ToArray();
        _cipher = key.Length == 32 ? OpenSslEvp.Aes256Cbc : OpenSslEvp.Aes128Cbc;
    }

    /// <summary>Whether libcrypto is there and computes what .NET's AES-CBC computes.</summary>
    public static bool IsSupported => OpenSslEvp.IsAvailable && s_supported.Value;

    /// <summary>Encrypts or decrypts whole blocks from <paramref name="input"/> into <paramref name="output"/> (may be the same).</summary>
    public void Transform(bool encrypt, ReadOnlySpan<byte> iv, ReadOnlySpan<byte> input, Span<byte> output)
    {
        bool added = false;
        try
        {
            _context.DangerousAddRef(ref added);
            nint context = _context.DangerousGetHandle();
            int written = 0, last = 0;
            fixed (byte* key = _key)
            fixed (byte* ivPointer = iv)
            fixed (byte* inPointer = input)
            fixed (byte* outPointer = output)
            {
                if (OpenSslEvp.Init(context, _cipher, 0, key, ivPointer, encrypt ? 1 : 0) != 1
                    || OpenSslEvp.SetPadding(context, 0) != 1
                    || OpenSslEvp.Update(context, outPointer, &written, inPointer, input.Length) != 1
                    || OpenSslEvp.Final(context, outPointer + written, &last) != 1
                    || written + last != input.Length)
                {
                    OpenSslEvp.ClearErrors();
                    throw new CryptographicException("libcrypto's AES-CBC failed.");
                }
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

    public void Dispose()
    {
        _context.Dispose();
        CryptographicOperations.ZeroMemory(_key);
    }

    private static bool SelfTest()
    {
        try
        {
            byte[] key = RandomNumberGenerator.GetBytes(16), iv = RandomNumberGenerator.GetBytes(16), plaintext = RandomNumberGenerator.GetBytes(64);
            using var ours = new OpenSslCbcCipher(key);
            using var dotnet = Aes.Create();
            dotnet.Key = key;
            byte[] ciphertext = new byte[64], back = new byte[64];
            ours.Transform(encrypt: true, iv, plaintext, ciphertext);
            ours.Transform(encrypt: false, iv, ciphertext, back);
            return ciphertext.AsSpan().SequenceEqual(dotnet.EncryptCbc(plaintext, iv, PaddingMode.None)) && back.AsSpan().SequenceEqual(plaintext);
        }
        catch (Exception ex) when (ex is CryptographicException or EntryPointNotFoundException or DllNotFoundException)
        {
            return false;
        }
    }
}
