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
    private readonly Dictionary<SocketAddress, Partial> _partials = [];

    /// <summary>
    /// Adds the ClientHello fragments of <paramref name="datagram"/>. When the message is complete, writes it as one
    /// unfragmented ClientHello record into <paramref name="output"/> and returns its length; otherwise returns 0.
    /// A datagram with anything but well-formed epoch-0 ClientHello fragments is ignored from there on.
    /// </summary>
    public int Add(SocketAddress from, ReadOnlySpan<byte> datagram, byte[] output)
    {
        long now = timeProvider.GetTimestamp();
        var rest = datagram;
        while (DtlsRecord.TryRead(rest, out var record))
        {
            if (record.ContentType != DtlsContentType.Handshake || record.Epoch != 0)
            {
                return 0;
            }

            var fragments = record.Fragment;
            while (!fragments.IsEmpty)
            {
                if (!DtlsHandshakeFragment.TryRead(fragments, out var fragment) || fragment.MessageType != DtlsHandshakeType.ClientHello)
                {
                    return 0;
                }

                int complete = AddFragment(from, record.Header, fragment, output, now);
                if (complete > 0)
                {
                    return complete;
                }

                fragments = fragments[fragment.TotalLength..];
            }

            rest = rest[record.Whole.Length..];
        }

        return 0;
    }

    private int AddFragment(SocketAddress from, ReadOnlySpan<byte> recordHeader, DtlsHandshakeFragment fragment, byte[] output, long now)
    {
        int length = fragment.MessageLength;
        const int Headers = DtlsRecord.HeaderLength + DtlsHandshakeFragment.HeaderLength;
        if (length > maxMessageLength || Headers + length > output.Length)
        {
            return 0;
        }

        if (!_partials.TryGetValue(from, out var partial) || partial.Body.Length != length || partial.MessageSequence != fragment.MessageSequence
            || timeProvider.GetElapsedTime(partial.Started, now) > lifetime)
        {
            MakeRoom(now, from);
            partial = new Partial(new byte[length], new bool[length], fragment.MessageSequence, now);
            _partials[Copy(from)] = partial;
        }

        fragment.Body.CopyTo(partial.Body.AsSpan(fragment.FragmentOffset));
        partial.Covered.AsSpan(fragment.FragmentOffset, fragment.Body.Length).Fill(true);
        recordHeader.CopyTo(partial.LastRecordHeader); // the newest sequence number
        if (partial.Covered.AsSpan().Contains(false))
        {
            return 0;
        }

        _partials.Remove(from);

        // One unfragmented ClientHello record: the record header of the last fragment (its sequence number is what
        // the server continues from), the handshake header with offset 0 and the full length, the body.
        partial.LastRecordHeader.CopyTo(output, 0);
        BinaryPrimitives.WriteUInt16BigEndian(output.AsSpan(DtlsRecord.HeaderLength - 2), (ushort)(DtlsHandshakeFragment.HeaderLength + length));
        var header = output.AsSpan(DtlsRecord.HeaderLength, DtlsHandshakeFragment.HeaderLength);
        header[0] = (byte)DtlsHandshakeType.ClientHello;
        BigEndian.WriteUInt24(header[1..], length);
        BinaryPrimitives.WriteUInt16BigEndian(header[4..], (ushort)fragment.MessageSequence);
        BigEndian.WriteUInt24(header[6..], 0);
        BigEndian.WriteUInt24(header[9..], length);
        partial.Body.CopyTo(output, Headers);
        return Headers + length;
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

    private sealed class Partial(byte[] body, bool[] covered, int messageSequence, long started)
    {
        public byte[] Body { get; } = body;

        public bool[] Covered { get; } = covered;

        public int MessageSequence { get; } = messageSequence;

        public long Started { get; } = started;

        public byte[] LastRecordHeader { get; } = new byte[DtlsRecord.HeaderLength];
    }
}
