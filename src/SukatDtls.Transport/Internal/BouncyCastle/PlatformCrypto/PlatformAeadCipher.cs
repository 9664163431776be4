using System.Buffers;
using System.Security.Cryptography;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto.Impl;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// One direction of an AES-GCM or AES-CCM record cipher for BouncyCastle's <see cref="TlsAeadCipher"/>, computed by
/// .NET's <see cref="AesGcm"/> / <see cref="AesCcm"/>. BouncyCastle hands the nonce and additional data to
/// <see cref="Init"/> and then encrypts or decrypts one record in place with <see cref="DoFinal(byte[], int, int, byte[], int)"/>.
/// </summary>
/// <remarks>
/// Not thread-safe, like BouncyCastle's own implementation: a connection's record layer uses each direction from one
/// thread at a time. BouncyCastle never disposes ciphers, so the native cipher context lives until the connection's
/// cipher is collected and the platform object's finalizer frees it; <see cref="Dispose"/> is there for callers that
/// know better. TLS only uses the tag sizes the platform ciphers support (GCM 16 bytes, CCM 16 and 8).
/// </remarks>
internal sealed class PlatformAeadCipher : TlsAeadCipherImpl, IDisposable
{
    private readonly bool _encrypting;
    private readonly bool _gcm;
    private readonly int _macSize;
    private AesGcm? _aesGcm;
    private AesCcm? _aesCcm;
    private byte[]? _nonce;
    private byte[]? _additionalData;

    private PlatformAeadCipher(bool encrypting, bool gcm, int macSize)
    {
        _encrypting = encrypting;
        _gcm = gcm;
        _macSize = macSize;
    }

    public static PlatformAeadCipher Gcm(bool encrypting, int macSize) => new(encrypting, gcm: true, macSize);

    public static PlatformAeadCipher Ccm(bool encrypting, int macSize) => new(encrypting, gcm: false, macSize);

    public void SetKey(byte[] key, int keyOff, int keyLen) => SetKey(key.AsSpan(keyOff, keyLen));

    public void SetKey(ReadOnlySpan<byte> key)
    {
        _aesGcm?.Dispose();
        _aesCcm?.Dispose();
        if (_gcm)
        {
            _aesGcm = new AesGcm(key, _macSize);
        }
        else
        {
            _aesCcm = new AesCcm(key);
        }
    }

    public void Init(byte[] nonce, int macSize, byte[]? additionalData)
    {
        if (macSize != _macSize)
        {
            throw new TlsFatalAlert(AlertDescription.internal_error, $"the cipher was made for a {_macSize}-byte tag, not {macSize}");
        }

        // BouncyCastle allocates a fresh nonce and additional-data array for every record, so keeping references is safe.
        _nonce = nonce;
        _additionalData = additionalData;
    }

    public int GetOutputSize(int inputLength) => _encrypting ? inputLength + _macSize : Math.Max(0, inputLength - _macSize);

    public int DoFinal(byte[] input, int inputOffset, int inputLength, byte[] output, int outputOffset) =>
        DoFinal(_additionalData, input, inputOffset, inputLength, output, outputOffset);

    public int DoFinal(byte[]? additionalData, byte[] input, int inputOffset, int inputLength, byte[] output, int outputOffset)
    {
        var nonce = _nonce ?? throw new InvalidOperationException("Init was not called before DoFinal.");
        var associated = additionalData is null ? ReadOnlySpan<byte>.Empty : additionalData.AsSpan();
        int textLength = _encrypting ? inputLength : inputLength - _macSize;
        if (textLength < 0)
        {
            throw new TlsFatalAlert(AlertDescription.bad_record_mac);
        }

        // BouncyCastle works in place (same array, same offset), which the platform ciphers allow. A partial overlap
        // they refuse; it does not happen today, but is handled by copying the input first.
        byte[]? copy = null;
        if (ReferenceEquals(input, output) && inputOffset != outputOffset)
        {
            copy = ArrayPool<byte>.Shared.Rent(inputLength);
            input.AsSpan(inputOffset, inputLength).CopyTo(copy);
            input = copy;
            inputOffset = 0;
        }

        try
        {
            var source = input.AsSpan(inputOffset, textLength);
            var destination = output.AsSpan(outputOffset, textLength);
            if (_encrypting)
            {
                var tag = output.AsSpan(outputOffset + textLength, _macSize);
                if (_aesGcm is { } gcm)
                {
                    gcm.Encrypt(nonce, source, destination, tag, associated);
                }
                else
                {
                    CcmCipher.Encrypt(nonce, source, destination, tag, associated);
                }

                return textLength + _macSize;
            }

            var receivedTag = input.AsSpan(inputOffset + textLength, _macSize);
            try
            {
                if (_aesGcm is { } gcm)
                {
                    gcm.Decrypt(nonce, source, receivedTag, destination, associated);
                }
                else
                {
                    CcmCipher.Decrypt(nonce, source, receivedTag, destination, associated);
                }
            }
            catch (CryptographicException e)
            {
                throw new TlsFatalAlert(AlertDescription.bad_record_mac, e);
            }

            return textLength;
        }
        finally
        {
            if (copy is not null)
            {
                ArrayPool<byte>.Shared.Return(copy);
            }
        }
    }

    public void Reset()
    {
        // Nothing to reset: every record brings its own nonce and additional data through Init.
    }

    public void Dispose()
    {
        _aesGcm?.Dispose();
        _aesCcm?.Dispose();
    }

    private AesCcm CcmCipher => _aesCcm ?? throw new InvalidOperationException("SetKey was not called before DoFinal.");
}
