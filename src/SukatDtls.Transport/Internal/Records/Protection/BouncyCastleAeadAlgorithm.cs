using System.Buffers;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Engines;
using Org.BouncyCastle.Crypto.Modes;
using Org.BouncyCastle.Crypto.Parameters;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// BouncyCastle's managed AES-GCM, AES-CCM and ChaCha20-Poly1305, where the platform lacks one of them
/// (<see cref="PlatformAeadAlgorithm.IsSupported"/>), and as an independent second implementation for the tests.
/// Slower than the platform's and allocating per record (BouncyCastle's parameters objects).
/// </summary>
internal sealed class BouncyCastleAeadAlgorithm : AeadAlgorithm
{
    private readonly IAeadCipher _cipher;
    private readonly KeyParameter _key;

    public BouncyCastleAeadAlgorithm(RecordAeadKind kind, ReadOnlySpan<byte> key, int tagLength)
        : base(tagLength)
    {
        _cipher = kind switch
        {
            RecordAeadKind.AesGcm => new GcmBlockCipher(new AesEngine()),
            RecordAeadKind.AesCcm => new CcmBlockCipher(new AesEngine()),
            RecordAeadKind.ChaCha20Poly1305 => new ChaCha20Poly1305(),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "not an AEAD cipher"),
        };
        _key = new KeyParameter(key);
    }

    public override void Encrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, Span<byte> ciphertext, Span<byte> tag, ReadOnlySpan<byte> associatedData)
    {
        _cipher.Init(true, new AeadParameters(_key, TagLength * 8, nonce.ToArray(), associatedData.ToArray()));
        byte[] output = ArrayPool<byte>.Shared.Rent(plaintext.Length + TagLength);
        try
        {
            int written = _cipher.ProcessBytes(plaintext, output);
            written += _cipher.DoFinal(output.AsSpan(written));
            output.AsSpan(0, plaintext.Length).CopyTo(ciphertext);
            output.AsSpan(plaintext.Length, TagLength).CopyTo(tag);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(output);
        }
    }

    public override bool TryDecrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> tag, Span<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        _cipher.Init(false, new AeadParameters(_key, TagLength * 8, nonce.ToArray(), associatedData.ToArray()));
        byte[] input = ArrayPool<byte>.Shared.Rent(ciphertext.Length + TagLength);
        byte[] output = ArrayPool<byte>.Shared.Rent(ciphertext.Length + TagLength);
        try
        {
            ciphertext.CopyTo(input);
            tag.CopyTo(input.AsSpan(ciphertext.Length));
            int written = _cipher.ProcessBytes(input.AsSpan(0, ciphertext.Length + TagLength), output);
            written += _cipher.DoFinal(output.AsSpan(written));
            output.AsSpan(0, written).CopyTo(plaintext);
            return true;
        }
        catch (InvalidCipherTextException)
        {
            return false;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(input);
            ArrayPool<byte>.Shared.Return(output);
        }
    }

    public override void Dispose()
    {
    }
}
