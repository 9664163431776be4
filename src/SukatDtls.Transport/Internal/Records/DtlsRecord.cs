using System.Buffers.Binary;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// One DTLS 1.2 record read from the front of a datagram (RFC 6347 §4.1): the 13-byte header — type, version, epoch,
/// 48-bit sequence number, length — and the fragment the length covers. The only reader of record headers in the
/// transport: everything that looks at records before or besides BouncyCastle goes through <see cref="TryRead"/>;
/// <see cref="WriteHeader"/> writes the plain headers of the records made outside the record layer.
/// </summary>
/// <remarks>
/// <see cref="TryRead"/> refuses what cannot be a DTLS record: fewer than 13 bytes, a major version other than DTLS's
/// (0xFE), or a length that runs past the end of the input (a truncated datagram, or a lying length). What the
/// fragment holds is the caller's business. Records carrying a Connection ID (type 25, RFC 9146 §4) have the CID
/// between the sequence number and the length; its length is not on the wire, so the caller says it.
/// </remarks>
internal readonly ref struct DtlsRecord
{
    /// <summary>Type (1), version (2), epoch (2), sequence number (6), length (2).</summary>
    public const int HeaderLength = 13;

    /// <summary>The major version byte of every DTLS version (DTLS 1.0 is 0xFEFF, 1.2 is 0xFEFD).</summary>
    public const byte MajorVersion = 0xFE;

    /// <summary>DTLS 1.2 on the wire.</summary>
    public const ushort Dtls12 = 0xFEFD;

    // Epoch and sequence number (8 bytes) start after type and version; a Connection ID follows them.
    private const int EpochOffset = 3;

    private readonly int _connectionIdLength;

    private DtlsRecord(ReadOnlySpan<byte> whole, int connectionIdLength)
    {
        Whole = whole;
        _connectionIdLength = connectionIdLength;
    }

    /// <summary>Header and fragment, as they were on the wire.</summary>
    public ReadOnlySpan<byte> Whole { get; }

    /// <summary>The header's length: 13, plus the Connection ID's for a <see cref="DtlsContentType.Tls12Cid"/> record.</summary>
    public int HeaderSize => HeaderLength + _connectionIdLength;

    public DtlsContentType ContentType => (DtlsContentType)Whole[0];

    public ushort Version => BinaryPrimitives.ReadUInt16BigEndian(Whole[1..]);

    public ushort Epoch => BinaryPrimitives.ReadUInt16BigEndian(Whole[EpochOffset..]);

    /// <summary>The record's 48-bit sequence number within its epoch.</summary>
    public long SequenceNumber => BigEndian.ReadUInt48(Whole[(EpochOffset + 2)..]);

    /// <summary>Epoch and sequence number as one 64-bit number, the <c>seq_num</c> of the record's MAC and nonce.</summary>
    public long EpochAndSequence => BinaryPrimitives.ReadInt64BigEndian(Whole[EpochOffset..]);

    /// <summary>The Connection ID of a <see cref="DtlsContentType.Tls12Cid"/> record; empty for other records.</summary>
    public ReadOnlySpan<byte> ConnectionId => Whole.Slice(EpochOffset + 8, _connectionIdLength);

    /// <summary>The header as it was on the wire.</summary>
    public ReadOnlySpan<byte> Header => Whole[..HeaderSize];

    /// <summary>What the length field covers: the (possibly protected) payload.</summary>
    public ReadOnlySpan<byte> Fragment => Whole[HeaderSize..];

    /// <summary>
    /// Writes the 13-byte header of a record without a Connection ID (the writer for the records the transport makes
    /// outside its record layer: handshake flights, HelloVerifyRequests).
    /// </summary>
    /// <param name="destination">Where the header goes; the fragment follows it.</param>
    /// <param name="contentType">The record's type.</param>
    /// <param name="version">The record version (DTLS 1.2's; a HelloVerifyRequest uses DTLS 1.0's).</param>
    /// <param name="epochAndSequence">Epoch (16 bits) and sequence number (48 bits).</param>
    /// <param name="fragmentLength">The length of the fragment that follows.</param>
    public static void WriteHeader(Span<byte> destination, DtlsContentType contentType, ushort version, long epochAndSequence, int fragmentLength)
    {
        destination[0] = (byte)contentType;
        BinaryPrimitives.WriteUInt16BigEndian(destination[1..], version);
        BinaryPrimitives.WriteInt64BigEndian(destination[EpochOffset..], epochAndSequence);
        BinaryPrimitives.WriteUInt16BigEndian(destination[(HeaderLength - 2)..], (ushort)fragmentLength);
    }

    /// <summary>
    /// Reads the record at the front of <paramref name="input"/>. False when the input is too short for a header, is
    /// not DTLS, or holds fewer bytes than the header's length says.
    /// </summary>
    /// <param name="input">A datagram, or what is left of one after the records before.</param>
    /// <param name="record">The record; <see cref="Whole"/> tells how much of the input it took.</param>
    /// <param name="connectionIdLength">The length of the Connection IDs that <see cref="DtlsContentType.Tls12Cid"/> records carry here (0: none negotiated, so such a record is refused).</param>
    public static bool TryRead(ReadOnlySpan<byte> input, out DtlsRecord record, int connectionIdLength = 0)
    {
        record = default;
        if (input.Length < HeaderLength || input[1] != MajorVersion)
        {
            return false;
        }

        int cidLength = 0;
        if (input[0] == (byte)DtlsContentType.Tls12Cid)
        {
            if (connectionIdLength <= 0)
            {
                return false;
            }

            cidLength = connectionIdLength;
        }

        int headerLength = HeaderLength + cidLength;
        if (input.Length < headerLength)
        {
            return false;
        }

        int length = BinaryPrimitives.ReadUInt16BigEndian(input[(headerLength - 2)..]);
        if (headerLength + length > input.Length)
        {
            return false;
        }

        record = new DtlsRecord(input[..(headerLength + length)], cidLength);
        return true;
    }
}
