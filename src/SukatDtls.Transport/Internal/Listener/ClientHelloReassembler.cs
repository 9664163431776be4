using System.Buffers.Binary;
using System.Net;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// Puts fragmented ClientHellos back together before the cookie check. A ClientHello larger than the client's datagram
/// limit (many cipher suites, big extensions, a small MTU) arrives in fragments, and BouncyCastle's stateless verifier
/// looks at single, whole ClientHellos only; without this such clients could never connect.
/// </summary>
/// <remarks>
/// This is the one piece of state kept for peers that have not proved their address yet, so it is strictly bounded:
/// at most <c>maxPeers</c> ClientHellos in progress, each at most <c>maxMessageLength</c> bytes, each forgotten after
/// <c>lifetime</c>; when full, the oldest is dropped. Called from the listener's dispatch only (one caller at a time).
/// </remarks>
internal sealed class ClientHelloReassembler(int maxPeers, int maxMessageLength, TimeSpan lifetime, TimeProvider timeProvider)
{
    private const int RecordHeaderLength = 13;
    private const int HandshakeHeaderLength = 12;

    private readonly Dictionary<SocketAddress, Partial> _partials = [];

    /// <summary>ClientHellos in progress.</summary>
    public int Pending => _partials.Count;

    /// <summary>Whether the datagram's first record is a fragment (not the whole) of a ClientHello.</summary>
    public static bool IsFragment(ReadOnlySpan<byte> datagram)
    {
        if (datagram.Length < RecordHeaderLength + HandshakeHeaderLength)
        {
            return false;
        }

        var message = datagram[RecordHeaderLength..];
        int length = ReadUInt24(message[1..]);
        int fragmentOffset = ReadUInt24(message[6..]);
        int fragmentLength = ReadUInt24(message[9..]);
        return fragmentOffset != 0 || fragmentLength != length;
    }

    /// <summary>
    /// Adds the ClientHello fragments of <paramref name="datagram"/>. When the message is complete, writes it as one
    /// unfragmented ClientHello record into <paramref name="output"/> and returns its length; otherwise returns 0.
    /// Malformed fragments are ignored.
    /// </summary>
    public int Add(SocketAddress from, ReadOnlySpan<byte> datagram, byte[] output)
    {
        long now = timeProvider.GetTimestamp();
        var rest = datagram;
        while (rest.Length >= RecordHeaderLength + HandshakeHeaderLength)
        {
            int recordLength = BinaryPrimitives.ReadUInt16BigEndian(rest[11..]);
            if (rest[0] != 22 || rest[3] != 0 || rest[4] != 0 || RecordHeaderLength + recordLength > rest.Length
                || recordLength < HandshakeHeaderLength)
            {
                return 0;
            }

            var record = rest[..(RecordHeaderLength + recordLength)];
            rest = rest[record.Length..];
            int complete = AddFragment(from, record, output, now);
            if (complete > 0)
            {
                return complete;
            }
        }

        return 0;
    }

    private int AddFragment(SocketAddress from, ReadOnlySpan<byte> record, byte[] output, long now)
    {
        var message = record[RecordHeaderLength..];
        int length = ReadUInt24(message[1..]);
        int messageSequence = BinaryPrimitives.ReadUInt16BigEndian(message[4..]);
        int fragmentOffset = ReadUInt24(message[6..]);
        int fragmentLength = ReadUInt24(message[9..]);
        if (message[0] != 1 || fragmentLength != message.Length - HandshakeHeaderLength || fragmentOffset + fragmentLength > length
            || length > maxMessageLength || RecordHeaderLength + HandshakeHeaderLength + length > output.Length)
        {
            return 0;
        }

        if (!_partials.TryGetValue(from, out var partial) || partial.Body.Length != length || partial.MessageSequence != messageSequence
            || timeProvider.GetElapsedTime(partial.Started, now) > lifetime)
        {
            MakeRoom(now, from);
            partial = new Partial(new byte[length], new bool[length], messageSequence, now);
            _partials[Copy(from)] = partial;
        }

        message.Slice(HandshakeHeaderLength, fragmentLength).CopyTo(partial.Body.AsSpan(fragmentOffset));
        partial.Covered.AsSpan(fragmentOffset, fragmentLength).Fill(true);
        record[..RecordHeaderLength].CopyTo(partial.LastRecordHeader); // the newest sequence number
        if (partial.Covered.AsSpan().Contains(false))
        {
            return 0;
        }

        _partials.Remove(from);

        // One unfragmented ClientHello record: the record header of the last fragment (its sequence number is what
        // the server continues from), the handshake header with offset 0 and the full length, the body.
        partial.LastRecordHeader.CopyTo(output, 0);
        BinaryPrimitives.WriteUInt16BigEndian(output.AsSpan(11), (ushort)(HandshakeHeaderLength + length));
        var header = output.AsSpan(RecordHeaderLength, HandshakeHeaderLength);
        header[0] = 1;
        WriteUInt24(header[1..], length);
        BinaryPrimitives.WriteUInt16BigEndian(header[4..], (ushort)messageSequence);
        WriteUInt24(header[6..], 0);
        WriteUInt24(header[9..], length);
        partial.Body.CopyTo(output, RecordHeaderLength + HandshakeHeaderLength);
        return RecordHeaderLength + HandshakeHeaderLength + length;
    }

    /// <summary>Forgets expired partials; if still full, the oldest.</summary>
    private void MakeRoom(long now, SocketAddress from)
    {
        if (_partials.Count < maxPeers || _partials.ContainsKey(from))
        {
            return;
        }

        KeyValuePair<SocketAddress, Partial>? oldest = null;
        foreach (var entry in _partials)
        {
            if (timeProvider.GetElapsedTime(entry.Value.Started, now) > lifetime)
            {
                _partials.Remove(entry.Key);
            }
            else if (oldest is null || entry.Value.Started < oldest.Value.Value.Started)
            {
                oldest = entry;
            }
        }

        if (_partials.Count >= maxPeers && oldest is { } evict)
        {
            _partials.Remove(evict.Key);
        }
    }

    private static SocketAddress Copy(SocketAddress address)
    {
        var copy = new SocketAddress(address.Family, address.Size);
        address.Buffer.Span[..address.Size].CopyTo(copy.Buffer.Span);
        return copy;
    }

    private static int ReadUInt24(ReadOnlySpan<byte> span) => (span[0] << 16) | (span[1] << 8) | span[2];

    private static void WriteUInt24(Span<byte> span, int value)
    {
        span[0] = (byte)(value >> 16);
        span[1] = (byte)(value >> 8);
        span[2] = (byte)value;
    }

    private sealed class Partial(byte[] body, bool[] covered, int messageSequence, long started)
    {
        public byte[] Body { get; } = body;

        public bool[] Covered { get; } = covered;

        public int MessageSequence { get; } = messageSequence;

        public long Started { get; } = started;

        public byte[] LastRecordHeader { get; } = new byte[RecordHeaderLength];
    }
}
