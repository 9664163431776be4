using System.Security.Cryptography;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// AES-GCM, AES-CCM and ChaCha20-Poly1305 by .NET's <see cref="AesGcm"/>, <see cref="AesCcm"/> and
/// <see cref="ChaCha20Poly1305"/> — the platform's library (OpenSSL on Linux), with AES-NI and carry-less multiplication.
/// The key schedule is made once per connection and direction and kept in the native context.
/// </summary>
/// <remarks>
/// The platform reports a failed tag with an exception; that costs more than a successful record, but only forged or
/// damaged records fail, and they have passed the framing and replay checks first.
/// </remarks>
internal sealed class PlatformAeadAlgorithm : AeadAlgorithm
{
    private readonly AesGcm? _gcm;
    private readonly AesCcm? _ccm;
    private readonly ChaCha20Poly1305? _chaCha;

    private PlatformAeadAlgorithm(int tagLength, AesGcm? gcm = null, AesCcm? ccm = null, ChaCha20Poly1305? chaCha = null)
        : base(tagLength)
    {
        _gcm = gcm;
        _ccm = ccm;
        _chaCha = chaCha;
    }

    /// <summary>Whether the platform computes this algorithm; else BouncyCastle's implementation stands in.</summary>
    public static bool IsSupported(RecordAeadKind kind) => kind switch
    {
        RecordAeadKind.AesGcm => AesGcm.IsSupported,
        RecordAeadKind.AesCcm => AesCcm.IsSupported,
        RecordAeadKind.ChaCha20Poly1305 => ChaCha20Poly1305.IsSupported,
        _ => false,
    };

    public static PlatformAeadAlgorithm Create(RecordAeadKind kind, ReadOnlySpan<byte> key, int tagLength) => kind switch
    {
        RecordAeadKind.AesGcm => new PlatformAeadAlgorithm(tagLength, gcm: new AesGcm(key, tagLength)),
        RecordAeadKind.AesCcm => new PlatformAeadAlgorithm(tagLength, ccm: new AesCcm(key)),
        RecordAeadKind.ChaCha20Poly1305 => new PlatformAeadAlgorithm(tagLength, chaCha: new ChaCha20Poly1305(key)),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "not an AEAD cipher"),
    };

    public override void Encrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> plaintext, Span<byte> ciphertext, Span<byte> tag, ReadOnlySpan<byte> associatedData)
    {
        if (_gcm is not null)
        {
            _gcm.Encrypt(nonce, plaintext, ciphertext, tag, associatedData);
        }
        else if (_ccm is not null)
        {
            _ccm.Encrypt(nonce, plaintext, ciphertext, tag, associatedData);
        }
        else
        {
            _chaCha!.Encrypt(nonce, plaintext, ciphertext, tag, associatedData);
        }
    }

    public override bool TryDecrypt(ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertext, ReadOnlySpan<byte> tag, Span<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        try
        {
            if (_gcm is not null)
            {
                _gcm.Decrypt(nonce, ciphertext, tag, plaintext, associatedData);
            }
            else if (_ccm is not null)
            {
                _ccm.Decrypt(nonce, ciphertext, tag, plaintext, associatedData);
            }
            else
            {
                _chaCha!.Decrypt(nonce, ciphertext, tag, plaintext, associatedData);
            }

            return true;
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    public override void Dispose()
    {
        _gcm?.Dispose();
        _ccm?.Dispose();
        _chaCha?.Dispose();
    }
}
