using System.Buffers;
using System.Buffers.Binary;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The records of an established connection, after BouncyCastle's handshake: epoch 1 both ways, the 48-bit write
/// sequence continuing after the handshake's last record, the 64-record replay window (RFC 6347 §4.1.2.6, moved only
/// by records that authenticated), record framing (several records per datagram in, one record per seal out), and the
/// protection of the negotiated suite (<see cref="RecordCipher"/>) on the caller's buffers: nothing is allocated per
/// record. Records that do not authenticate are dropped, never fatal (RFC 6347 §4.1.2.7).
/// </summary>
/// <remarks>
/// <para>
/// The final flight: the side whose handshake ended with its own flight (the server of a full handshake, the client of
/// an abbreviated one) keeps that flight's datagrams; when the peer resends its own last flight — because ours was
/// lost — its Finished arrives again, authenticated, and the flight is resent as it was (<see cref="TakeFinalFlight"/>),
/// at most <see cref="MaxFinalFlightResends"/> times, and no more once the peer's application data shows it has it.
/// </para>
/// <para>
/// Threads: reading (<see cref="ReadNext"/>, <see cref="TakeFinalFlight"/>) is serialised by the caller; sealing is
/// thread-safe (one lock around the sequence number and the write cipher).
/// </para>
/// </remarks>
internal sealed class DtlsRecordLayer : IDisposable
{
    /// <summary>DTLS 1.2 without renegotiation: the epoch after the one handshake.</summary>
    public const ushort Epoch = 1;

    /// <summary>The largest plaintext of a record (2^14, RFC 5246 §6.2.1).</summary>
    public const int MaxPlaintextLength = 1 << 14;

    public const int MaxFinalFlightResends = 8;

    private const ushort Version = DtlsRecord.Dtls12;
    private const long MaxSequence = (1L << 48) - 1;

    private readonly int _plaintextLimit;
    private readonly RecordCipher _read;
    private readonly RecordCipher _write;
    private readonly Lock _writeLock = new();
    private long _nextWriteSequence;
    private ReplayWindow _window = new();
    private byte[][]? _finalFlight;
    private int _finalFlightResends;

    /// <param name="read">The peer's records' cipher.</param>
    /// <param name="write">Our records' cipher.</param>
    /// <param name="nextWriteSequence">The first sequence number of epoch 1 the handshake did not use.</param>
    /// <param name="finalFlight">Our last handshake flight's datagrams, when our flight ended the handshake.</param>
    /// <param name="plaintextLimit">The largest plaintext of a record we send: 2^14, or a negotiated max_fragment_length.</param>
    public DtlsRecordLayer(RecordCipher read, RecordCipher write, long nextWriteSequence, byte[][]? finalFlight, int plaintextLimit = MaxPlaintextLength)
    {
        _plaintextLimit = plaintextLimit;
        _read = read;
        _write = write;
        _nextWriteSequence = nextWriteSequence;
        _finalFlight = finalFlight is { Length: > 0 } ? finalFlight : null;
    }

    /// <summary>The length of our records' header: 13, plus the Connection ID we write.</summary>
    public int WriteHeaderLength => DtlsRecord.HeaderLength + _write.ConnectionId.Length;

    /// <summary>The Connection ID the peer's records carry (ours), empty without one.</summary>
    public ReadOnlySpan<byte> ReadConnectionId => _read.ConnectionId;

    /// <summary>The Connection ID our records carry (the peer's), empty without one.</summary>
    public ReadOnlySpan<byte> WriteConnectionId => _write.ConnectionId;

    /// <inheritdoc cref="ReadConnectionId"/>
    public ReadOnlyMemory<byte> ReadConnectionIdMemory => _read.ConnectionId;

    /// <inheritdoc cref="WriteConnectionId"/>
    public ReadOnlyMemory<byte> WriteConnectionIdMemory => _write.ConnectionId;

    /// <summary>Whether our final flight is still kept for a resend.</summary>
    public bool HoldsFinalFlight => Volatile.Read(ref _finalFlight) is not null;

    /// <summary>
    /// Whether the last record <see cref="ReadNext"/> authenticated was newer than every record before it (RFC 9146 §6:
    /// only such a record may move the connection to a new address).
    /// </summary>
    public bool LastRecordWasNewest { get; private set; }

    /// <summary>The next sequence number we will write (for tests and diagnostics).</summary>
    public long NextWriteSequence => Interlocked.Read(ref _nextWriteSequence);

    /// <summary>The most application data one record of ours carries when a datagram may hold <paramref name="datagramLimit"/> bytes.</summary>
    public int MaxPlaintext(int datagramLimit) => Math.Min(_plaintextLimit, _write.MaxPlaintext(datagramLimit - WriteHeaderLength));

    /// <summary>The record's length for a plaintext of <paramref name="plaintextLength"/> bytes (the buffer a seal needs).</summary>
    public int SealedLength(int plaintextLength) => WriteHeaderLength + _write.SealedLength(plaintextLength);

    /// <summary>Protects <paramref name="plaintext"/> into one record in <paramref name="destination"/>; returns its length.</summary>
    public int Seal(DtlsContentType contentType, ReadOnlySpan<byte> plaintext, Span<byte> destination)
    {
        plaintext.CopyTo(destination[(WriteHeaderLength + _write.PlaintextOffset)..]);
        return SealInPlace(contentType, plaintext.Length, destination);
    }

    /// <inheritdoc cref="Seal(DtlsContentType, ReadOnlySpan{byte}, Span{byte})"/>
    public int Seal(DtlsContentType contentType, in ReadOnlySequence<byte> plaintext, Span<byte> destination)
    {
        plaintext.CopyTo(destination[(WriteHeaderLength + _write.PlaintextOffset)..]);
        return SealInPlace(contentType, (int)plaintext.Length, destination);
    }

    private int SealInPlace(DtlsContentType contentType, int plaintextLength, Span<byte> destination)
    {
        int headerLength = WriteHeaderLength;
        lock (_writeLock)
        {
            long sequence = _nextWriteSequence;
            if (sequence > MaxSequence)
            {
                throw new InvalidOperationException("The connection's 48-bit record sequence numbers are used up; it must end.");
            }

            _nextWriteSequence = sequence + 1;
            long epochAndSequence = ((long)Epoch << 48) | sequence;
            int fragmentLength = _write.Seal(destination[headerLength..], plaintextLength, contentType, epochAndSequence, Version);
            destination[0] = (byte)(_write.ConnectionId.Length > 0 ? DtlsContentType.Tls12Cid : contentType);
            BinaryPrimitives.WriteUInt16BigEndian(destination[1..], Version);
            BinaryPrimitives.WriteInt64BigEndian(destination[3..], epochAndSequence);
            _write.ConnectionId.CopyTo(destination[11..]);
            BinaryPrimitives.WriteUInt16BigEndian(destination[(headerLength - 2)..], (ushort)fragmentLength);
            return headerLength + fragmentLength;
        }
    }

    /// <summary>
    /// Reads the record at <paramref name="offset"/> of <paramref name="datagram"/>, authenticating and decrypting it in
    /// place, and moves <paramref name="offset"/> past it. For <see cref="RecordReadKind.ApplicationData"/> and
    /// <see cref="RecordReadKind.Alert"/> the content is <c>datagram.Slice(plaintextOffset, plaintextLength)</c>.
    /// </summary>
    public RecordReadKind ReadNext(Span<byte> datagram, ref int offset, out int plaintextOffset, out int plaintextLength)
    {
        plaintextOffset = 0;
        plaintextLength = 0;
        if (offset >= datagram.Length)
        {
            return RecordReadKind.End;
        }

        var rest = datagram[offset..];
        if (!DtlsRecord.TryRead(rest, out var record, _read.ConnectionId.Length))
        {
            offset = datagram.Length;
            return RecordReadKind.Malformed;
        }

        int start = offset;
        offset += record.Whole.Length;
        if (record.Epoch == 0)
        {
            return RecordReadKind.Plaintext;
        }

        if (record.Epoch != Epoch || record.Version != Version || !HasExpectedConnectionId(record))
        {
            return RecordReadKind.Malformed;
        }

        long sequence = record.SequenceNumber;
        if (_window.IsReplay(sequence))
        {
            return RecordReadKind.Replay;
        }

        int fragmentStart = start + record.HeaderSize;
        var fragment = datagram.Slice(fragmentStart, record.Fragment.Length);
        if (!_read.TryOpen(fragment, record.ContentType, record.EpochAndSequence, record.Version, out var contentType, out int innerOffset, out plaintextLength))
        {
            plaintextLength = 0;
            return RecordReadKind.Forged;
        }

        LastRecordWasNewest = sequence > _window.Highest;
        _window.Mark(sequence);
        plaintextOffset = fragmentStart + innerOffset;
        switch (contentType)
        {
            case DtlsContentType.ApplicationData:
                // The peer has our last flight: it can only send data after it processed our Finished.
                Volatile.Write(ref _finalFlight, null);
                return RecordReadKind.ApplicationData;
            case DtlsContentType.Alert:
                return plaintextLength == 2 ? RecordReadKind.Alert : RecordReadKind.Unexpected;
            case DtlsContentType.Handshake when _finalFlight is not null && _finalFlightResends < MaxFinalFlightResends:
                return RecordReadKind.PeerRetransmittedFlight;
            default:
                return RecordReadKind.Unexpected;
        }
    }

    /// <summary>Our final flight's datagrams for one resend, or null when there is none (any more) to resend.</summary>
    public byte[][]? TakeFinalFlight()
    {
        var flight = Volatile.Read(ref _finalFlight);
        if (flight is null || ++_finalFlightResends > MaxFinalFlightResends)
        {
            return null;
        }

        return flight;
    }

    public void Dispose()
    {
        _read.Dispose();
        lock (_writeLock)
        {
            _write.Dispose();
        }
    }

    private bool HasExpectedConnectionId(DtlsRecord record)
    {
        var expected = _read.ConnectionId;
        return expected.Length == 0
            ? record.ContentType != DtlsContentType.Tls12Cid
            : record.ContentType == DtlsContentType.Tls12Cid && record.ConnectionId.SequenceEqual(expected);
    }
}
