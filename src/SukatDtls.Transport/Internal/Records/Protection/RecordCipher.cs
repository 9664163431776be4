namespace SukatDtls.Transport.Internal;

/// <summary>
/// The protection of one direction of a connection's records in the current epoch: seals plaintext into a protected
/// fragment and opens one back, in place, on the caller's buffer (nothing allocated per record).
/// </summary>
/// <remarks>
/// <para>
/// With a Connection ID for the direction (RFC 9146), the plaintext is the DTLSInnerPlaintext: the content followed by
/// its real content type (no padding is added when sealing; any is stripped when opening), the record's own type is
/// <see cref="DtlsContentType.Tls12Cid"/>, and the additional data or MAC input takes the RFC 9146 §5 form
/// (<see cref="RecordAdditionalData"/>).
/// </para>
/// <para>Not thread-safe: the record layer serialises each direction.</para>
/// </remarks>
internal abstract class RecordCipher : IDisposable
{
    protected RecordCipher(ReadOnlySpan<byte> connectionId)
    {
        ConnectionId = connectionId.ToArray();
    }

    /// <summary>The Connection ID in this direction's records; empty when none was negotiated.</summary>
    public byte[] ConnectionId { get; }

    protected bool UsesInnerPlaintext => ConnectionId.Length > 0;

    /// <summary>Bytes of the fragment before the plaintext when sealing (explicit nonce or IV).</summary>
    public abstract int PlaintextOffset { get; }

    /// <summary>The longest plaintext whose protected fragment has at most <paramref name="maxFragment"/> bytes (negative: none fits).</summary>
    public abstract int MaxPlaintext(int maxFragment);

    /// <summary>The protected fragment's length for a plaintext of <paramref name="plaintextLength"/> bytes (the buffer a seal needs).</summary>
    public abstract int SealedLength(int plaintextLength);

    /// <summary>
    /// Protects a record in place: the plaintext is at <c>fragment[PlaintextOffset..]</c>, and <paramref name="fragment"/>
    /// has room for <see cref="SealedLength"/> bytes. Returns the protected fragment's length.
    /// </summary>
    public abstract int Seal(Span<byte> fragment, int plaintextLength, DtlsContentType contentType, long epochAndSequence, ushort version);

    /// <summary>
    /// Authenticates and decrypts a protected fragment in place. On success the content is
    /// <c>fragment.Slice(plaintextOffset, plaintextLength)</c> and <paramref name="contentType"/> is its real type.
    /// False for anything that does not authenticate or is malformed: nothing in the fragment is then trustworthy.
    /// </summary>
    public abstract bool TryOpen(Span<byte> fragment, DtlsContentType recordType, long epochAndSequence, ushort version,
        out DtlsContentType contentType, out int plaintextOffset, out int plaintextLength);

    public abstract void Dispose();

    /// <summary>Adds the inner content type after the content when the direction has a Connection ID; returns the inner length.</summary>
    protected int AppendInnerType(Span<byte> text, int plaintextLength, DtlsContentType contentType)
    {
        if (!UsesInnerPlaintext)
        {
            return plaintextLength;
        }

        text[plaintextLength] = (byte)contentType;
        return plaintextLength + 1;
    }

    /// <summary>The type the additional data names: tls12_cid with a Connection ID, else the content's own.</summary>
    protected DtlsContentType OuterType(DtlsContentType contentType) => UsesInnerPlaintext ? DtlsContentType.Tls12Cid : contentType;

    /// <summary>
    /// Reads a DTLSInnerPlaintext (RFC 9146 §4): zero padding stripped from the end, then the real content type. False
    /// when it is all zeros (no content type).
    /// </summary>
    protected bool TryReadInner(ReadOnlySpan<byte> inner, DtlsContentType recordType, out DtlsContentType contentType, out int contentLength)
    {
        if (!UsesInnerPlaintext)
        {
            contentType = recordType;
            contentLength = inner.Length;
            return true;
        }

        int last = inner.LastIndexOfAnyExcept((byte)0);
        if (last < 0)
        {
            contentType = default;
            contentLength = 0;
            return false;
        }

        contentType = (DtlsContentType)inner[last];
        contentLength = last;
        return true;
    }
}
