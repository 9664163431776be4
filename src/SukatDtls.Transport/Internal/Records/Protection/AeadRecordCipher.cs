using System.Buffers.Binary;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// AEAD record protection: AES-GCM (RFC 5288) and AES-CCM (RFC 6655, 7251) with a 4-byte implicit salt and the
/// 8-byte explicit nonce sent before the ciphertext (the record's epoch and sequence number, as BouncyCastle and
/// OpenSSL choose it; a received one is used as it came), and ChaCha20-Poly1305 (RFC 7905) with a 12-byte IV XOR
/// the padded epoch and sequence number and nothing sent. Fragment: [explicit nonce] ciphertext tag.
/// </summary>
internal sealed class AeadRecordCipher : RecordCipher
{
    private const int NonceLength = 12;
    private const int ExplicitNonceLength = 8;

    private readonly AeadAlgorithm _algorithm;
    private readonly byte[] _implicitIv;
    private readonly bool _explicitNonce;

    /// <param name="algorithm">The keyed AEAD (one direction).</param>
    /// <param name="implicitIv">The direction's fixed IV from the key block: 4 bytes of salt (GCM, CCM) or 12 (ChaCha20-Poly1305).</param>
    /// <param name="connectionId">The direction's Connection ID, or empty.</param>
    public AeadRecordCipher(AeadAlgorithm algorithm, ReadOnlySpan<byte> implicitIv, ReadOnlySpan<byte> connectionId)
        : base(connectionId)
    {
        if (implicitIv.Length is not (4 or NonceLength))
        {
            throw new ArgumentException("An AEAD record cipher's fixed IV has 4 or 12 bytes.", nameof(implicitIv));
        }

        _algorithm = algorithm;
        _implicitIv = implicitIv.ToArray();
        _explicitNonce = implicitIv.Length == 4;
    }

    public override int PlaintextOffset => _explicitNonce ? ExplicitNonceLength : 0;

    private int Overhead => PlaintextOffset + _algorithm.TagLength + (UsesInnerPlaintext ? 1 : 0);

    public override int MaxPlaintext(int maxFragment) => maxFragment - Overhead;

    public override int SealedLength(int plaintextLength) => plaintextLength + Overhead;

    public override int Seal(Span<byte> fragment, int plaintextLength, DtlsContentType contentType, long epochAndSequence, ushort version)
    {
        int offset = PlaintextOffset;
        int textLength = AppendInnerType(fragment[offset..], plaintextLength, contentType);
        Span<byte> nonce = stackalloc byte[NonceLength];
        if (_explicitNonce)
        {
            BinaryPrimitives.WriteInt64BigEndian(fragment, epochAndSequence);
            _implicitIv.CopyTo(nonce);
            fragment[..ExplicitNonceLength].CopyTo(nonce[4..]);
        }
        else
        {
            XorNonce(nonce, epochAndSequence);
        }

        Span<byte> additionalData = stackalloc byte[RecordAdditionalData.MaxLength];
        int adLength = RecordAdditionalData.Write(additionalData, epochAndSequence, OuterType(contentType), version, ConnectionId, textLength);
        var text = fragment.Slice(offset, textLength);
        _algorithm.Encrypt(nonce, text, text, fragment.Slice(offset + textLength, _algorithm.TagLength), additionalData[..adLength]);
        return offset + textLength + _algorithm.TagLength;
    }

    public override bool TryOpen(Span<byte> fragment, DtlsContentType recordType, long epochAndSequence, ushort version,
        out DtlsContentType contentType, out int plaintextOffset, out int plaintextLength)
    {
        contentType = default;
        plaintextOffset = PlaintextOffset;
        plaintextLength = 0;
        int textLength = fragment.Length - plaintextOffset - _algorithm.TagLength;
        if (textLength < (UsesInnerPlaintext ? 1 : 0))
        {
            return false;
        }

        Span<byte> nonce = stackalloc byte[NonceLength];
        if (_explicitNonce)
        {
            _implicitIv.CopyTo(nonce);
            fragment[..ExplicitNonceLength].CopyTo(nonce[4..]);
        }
        else
        {
            XorNonce(nonce, epochAndSequence);
        }

        Span<byte> additionalData = stackalloc byte[RecordAdditionalData.MaxLength];
        int adLength = RecordAdditionalData.Write(additionalData, epochAndSequence, recordType, version, ConnectionId, textLength);
        var text = fragment.Slice(plaintextOffset, textLength);
        if (!_algorithm.TryDecrypt(nonce, text, fragment.Slice(plaintextOffset + textLength, _algorithm.TagLength), text, additionalData[..adLength]))
        {
            return false;
        }

        return TryReadInner(text, recordType, out contentType, out plaintextLength);
    }

    public override void Dispose() => _algorithm.Dispose();

    /// <summary>RFC 7905: the IV XOR the 64-bit epoch and sequence number, padded on the left to 12 bytes.</summary>
    private void XorNonce(Span<byte> nonce, long epochAndSequence)
    {
        _implicitIv.CopyTo(nonce);
        ulong tail = BinaryPrimitives.ReadUInt64BigEndian(nonce[4..]) ^ (ulong)epochAndSequence;
        BinaryPrimitives.WriteUInt64BigEndian(nonce[4..], tail);
    }
}
