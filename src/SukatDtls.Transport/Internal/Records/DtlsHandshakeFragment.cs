namespace SukatDtls.Transport.Internal;

/// <summary>
/// One handshake message fragment read from the front of a handshake record's fragment (RFC 6347 §4.2.2): the
/// 12-byte header — type, message length, message sequence, fragment offset, fragment length — and the body bytes.
/// The only reader of handshake headers in the transport (<see cref="WriteHeader"/> the only writer).
/// </summary>
/// <remarks>
/// <see cref="TryRead"/> refuses a header that lies: fewer than 12 bytes, a fragment length that runs past the input,
/// or a fragment that reaches beyond the message's length. A record may hold several fragments; the next one starts
/// <see cref="TotalLength"/> bytes further.
/// </remarks>
internal readonly ref struct DtlsHandshakeFragment
{
    /// <summary>Type (1), length (3), message sequence (2), fragment offset (3), fragment length (3).</summary>
    public const int HeaderLength = 12;

    // The header as it was on the wire; the body follows it.
    private readonly ReadOnlySpan<byte> _header;

    private DtlsHandshakeFragment(ReadOnlySpan<byte> header, ReadOnlySpan<byte> body)
    {
        _header = header;
        Body = body;
    }

    public DtlsHandshakeType MessageType => (DtlsHandshakeType)_header[0];

    /// <summary>The length of the whole message body (all fragments).</summary>
    public int MessageLength => BigEndian.ReadUInt24(_header[1..]);

    public int MessageSequence => (_header[4] << 8) | _header[5];

    /// <summary>Where this fragment's body starts within the message body.</summary>
    public int FragmentOffset => BigEndian.ReadUInt24(_header[6..]);

    /// <summary>This fragment's part of the message body.</summary>
    public ReadOnlySpan<byte> Body { get; }

    /// <summary>How many bytes of the input this fragment took (header and body).</summary>
    public int TotalLength => HeaderLength + Body.Length;

    /// <summary>Whether this fragment is the whole message.</summary>
    public bool IsWholeMessage => FragmentOffset == 0 && Body.Length == MessageLength;

    /// <summary>Writes a handshake header (RFC 6347 §4.2.2); the fragment's body follows it.</summary>
    public static void WriteHeader(Span<byte> destination, DtlsHandshakeType type, int messageLength, int messageSequence, int fragmentOffset,
        int fragmentLength)
    {
        destination[0] = (byte)type;
        BigEndian.WriteUInt24(destination[1..], messageLength);
        destination[4] = (byte)(messageSequence >> 8);
        destination[5] = (byte)messageSequence;
        BigEndian.WriteUInt24(destination[6..], fragmentOffset);
        BigEndian.WriteUInt24(destination[9..], fragmentLength);
    }

    /// <summary>Reads the fragment at the front of <paramref name="input"/> (a handshake record's fragment).</summary>
    public static bool TryRead(ReadOnlySpan<byte> input, out DtlsHandshakeFragment fragment)
    {
        fragment = default;
        if (input.Length < HeaderLength)
        {
            return false;
        }

        int fragmentLength = BigEndian.ReadUInt24(input[9..]);
        if (fragmentLength > input.Length - HeaderLength || BigEndian.ReadUInt24(input[6..]) + fragmentLength > BigEndian.ReadUInt24(input[1..]))
        {
            return false;
        }

        fragment = new DtlsHandshakeFragment(input[..HeaderLength], input.Slice(HeaderLength, fragmentLength));
        return true;
    }
}
