using System.Security.Cryptography;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// AES-CBC with an HMAC (RFC 5246 §6.2.3.2, explicit IV): encrypt-then-MAC when negotiated (RFC 7366: the MAC covers
/// IV and ciphertext and is checked before anything is decrypted), else MAC-then-encrypt. Fragment: IV (random per
/// record), the CBC ciphertext of content, [MAC,] padding, and with encrypt-then-MAC the MAC after it.
/// </summary>
/// <remarks>
/// The padding bytes all hold the padding length minus one, 1 to 16 of them when sealing; up to 256 are accepted when
/// opening. MAC-then-encrypt is only used with a peer that does not offer encrypt-then-MAC; its padding check is
/// not constant-time (the Lucky Thirteen timing channel), which is why the suites rely on encrypt-then-MAC where the
/// peer has it.
/// </remarks>
internal sealed class CbcHmacRecordCipher : RecordCipher
{
    private const int BlockSize = 16;

    // libcrypto's CBC on a context kept per direction where there is one (nothing allocated per record), else .NET's.
    private readonly OpenSslCbcCipher? _openSsl;
    private readonly Aes? _aes;
    private readonly IncrementalHash _mac;
    private readonly int _macLength;
    private readonly bool _encryptThenMac;

    /// <param name="key">The direction's AES key.</param>
    /// <param name="macKey">The direction's MAC key.</param>
    /// <param name="macAlgorithm">SHA-1, SHA-256 or SHA-384 (HMAC).</param>
    /// <param name="encryptThenMac">Whether RFC 7366 was negotiated.</param>
    /// <param name="connectionId">The direction's Connection ID, or empty.</param>
    public CbcHmacRecordCipher(ReadOnlySpan<byte> key, ReadOnlySpan<byte> macKey, HashAlgorithmName macAlgorithm, bool encryptThenMac, ReadOnlySpan<byte> connectionId)
        : base(connectionId)
    {
        if (OpenSslCbcCipher.IsSupported)
        {
            _openSsl = new OpenSslCbcCipher(key);
        }
        else
        {
            _aes = Aes.Create();
            _aes.Key = key.ToArray();
        }
        _mac = IncrementalHash.CreateHMAC(macAlgorithm, macKey);
        _macLength = _mac.HashLengthInBytes;
        _encryptThenMac = encryptThenMac;
    }

    public override int PlaintextOffset => BlockSize;

    private int InnerTypeLength => UsesInnerPlaintext ? 1 : 0;

    public override int MaxPlaintext(int maxFragment)
    {
        int blocks = (maxFragment - BlockSize - (_encryptThenMac ? _macLength : 0)) / BlockSize * BlockSize;
        return _encryptThenMac
            ? blocks - 1 - InnerTypeLength // at least one padding byte
            : blocks - _macLength - 1 - InnerTypeLength;
    }

    public override int SealedLength(int plaintextLength)
    {
        int encrypted = plaintextLength + InnerTypeLength + (_encryptThenMac ? 0 : _macLength);
        int padded = (encrypted / BlockSize + 1) * BlockSize;
        return BlockSize + padded + (_encryptThenMac ? _macLength : 0);
    }

    public override int Seal(Span<byte> fragment, int plaintextLength, DtlsContentType contentType, long epochAndSequence, ushort version)
    {
        int textLength = AppendInnerType(fragment[BlockSize..], plaintextLength, contentType);
        Span<byte> header = stackalloc byte[RecordAdditionalData.MaxLength];
        int length = textLength;
        if (!_encryptThenMac)
        {
            int headerLength = RecordAdditionalData.Write(header, epochAndSequence, OuterType(contentType), version, ConnectionId, textLength);
            Mac(header[..headerLength], fragment.Slice(BlockSize, textLength), fragment.Slice(BlockSize + textLength, _macLength));
            length += _macLength;
        }

        int padding = BlockSize - (length % BlockSize);
        fragment.Slice(BlockSize + length, padding).Fill((byte)(padding - 1));
        length += padding;

        var iv = fragment[..BlockSize];
        RandomNumberGenerator.Fill(iv);
        var blocks = fragment.Slice(BlockSize, length);
        Cbc(encrypt: true, iv, blocks);
        int sealedLength = BlockSize + length;
        if (_encryptThenMac)
        {
            int headerLength = RecordAdditionalData.Write(header, epochAndSequence, OuterType(contentType), version, ConnectionId, sealedLength);
            Mac(header[..headerLength], fragment[..sealedLength], fragment.Slice(sealedLength, _macLength));
            sealedLength += _macLength;
        }

        return sealedLength;
    }

    public override bool TryOpen(Span<byte> fragment, DtlsContentType recordType, long epochAndSequence, ushort version,
        out DtlsContentType contentType, out int plaintextOffset, out int plaintextLength)
    {
        contentType = default;
        plaintextOffset = BlockSize;
        plaintextLength = 0;
        Span<byte> header = stackalloc byte[RecordAdditionalData.MaxLength];
        Span<byte> expected = stackalloc byte[_macLength];
        int cipherLength = fragment.Length - BlockSize - (_encryptThenMac ? _macLength : 0);
        if (cipherLength < BlockSize || cipherLength % BlockSize != 0 || (!_encryptThenMac && cipherLength < _macLength + 1))
        {
            return false;
        }

        if (_encryptThenMac)
        {
            int covered = BlockSize + cipherLength;
            int headerLength = RecordAdditionalData.Write(header, epochAndSequence, recordType, version, ConnectionId, covered);
            Mac(header[..headerLength], fragment[..covered], expected);
            if (!CryptographicOperations.FixedTimeEquals(expected, fragment.Slice(covered, _macLength)))
            {
                return false;
            }
        }

        var blocks = fragment.Slice(BlockSize, cipherLength);
        Cbc(encrypt: false, fragment[..BlockSize], blocks);
        int padding = blocks[^1] + 1;
        int textLength = cipherLength - padding - (_encryptThenMac ? 0 : _macLength);
        if (textLength < 0 || blocks.Slice(cipherLength - padding, padding).ContainsAnyExcept(blocks[^1]))
        {
            return false;
        }

        if (!_encryptThenMac)
        {
            int headerLength = RecordAdditionalData.Write(header, epochAndSequence, recordType, version, ConnectionId, textLength);
            Mac(header[..headerLength], blocks[..textLength], expected);
            if (!CryptographicOperations.FixedTimeEquals(expected, blocks.Slice(textLength, _macLength)))
            {
                return false;
            }
        }

        return TryReadInner(blocks[..textLength], recordType, out contentType, out plaintextLength);
    }

    public override void Dispose()
    {
        _openSsl?.Dispose();
        _aes?.Dispose();
        _mac.Dispose();
    }

    /// <summary>CBC in place over whole blocks.</summary>
    private void Cbc(bool encrypt, ReadOnlySpan<byte> iv, Span<byte> blocks)
    {
        if (_openSsl is not null)
        {
            _openSsl.Transform(encrypt, iv, blocks, blocks);
        }
        else if (encrypt)
        {
            _aes!.EncryptCbc(blocks, iv, blocks, PaddingMode.None);
        }
        else
        {
            _aes!.DecryptCbc(blocks, iv, blocks, PaddingMode.None);
        }
    }

    private void Mac(ReadOnlySpan<byte> header, ReadOnlySpan<byte> data, Span<byte> destination)
    {
        _mac.AppendData(header);
        _mac.AppendData(data);
        _mac.TryGetHashAndReset(destination, out _);
    }
}
