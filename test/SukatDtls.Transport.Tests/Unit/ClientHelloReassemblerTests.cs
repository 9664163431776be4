using System.Buffers.Binary;
using System.Net;
using Microsoft.Extensions.Time.Testing;
using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// Fragmented ClientHellos put back together before the cookie check: in any order, overlapping, several per
/// datagram, kept apart per peer, and within bounds — message length, number of peers in progress, lifetime.
/// </summary>
public sealed class ClientHelloReassemblerTests
{
    private const int MessageLength = 150;
    private const int Whole = 13 + 12 + MessageLength;
    private static readonly TimeSpan s_lifetime = TimeSpan.FromSeconds(5);
    private static readonly SocketAddress s_peerA = new IPEndPoint(IPAddress.Parse("192.0.2.1"), 5000).Serialize();
    private static readonly SocketAddress s_peerB = new IPEndPoint(IPAddress.Parse("192.0.2.2"), 5000).Serialize();
    private static readonly SocketAddress s_peerC = new IPEndPoint(IPAddress.Parse("192.0.2.3"), 5000).Serialize();

    private readonly FakeTimeProvider _time = new();
    private readonly byte[] _output = new byte[2048];

    [Fact]
    public void Three_fragments_in_order_make_one_unfragmented_client_hello_record()
    {
        var reassembler = Reassembler();
        var body = Body(seed: 1);
        var fragments = ThreeFragments(body);

        Assert.Equal(0, reassembler.Add(s_peerA, fragments[0], _output));
        Assert.Equal(0, reassembler.Add(s_peerA, fragments[1], _output));
        Assert.Equal(Whole, reassembler.Add(s_peerA, fragments[2], _output));

        AssertReassembled(body, lastRecord: fragments[2], messageSequence: 0);
    }

    [Theory]
    [InlineData(2, 0, 1)]
    [InlineData(2, 1, 0)]
    [InlineData(1, 2, 0)]
    public void Three_fragments_out_of_order_make_the_same_record_with_the_last_arrived_record_header(int first, int second, int third)
    {
        var reassembler = Reassembler();
        var body = Body(seed: 2);
        var fragments = ThreeFragments(body);

        Assert.Equal(0, reassembler.Add(s_peerA, fragments[first], _output));
        Assert.Equal(0, reassembler.Add(s_peerA, fragments[second], _output));
        Assert.Equal(Whole, reassembler.Add(s_peerA, fragments[third], _output));

        AssertReassembled(body, lastRecord: fragments[third], messageSequence: 0);
    }

    [Fact]
    public void Overlapping_fragments_cover_the_message()
    {
        var reassembler = Reassembler();
        var body = Body(seed: 3);

        Assert.Equal(0, reassembler.Add(s_peerA, Fragment(body, offset: 0, length: 60, recordSequence: 1), _output));
        Assert.Equal(0, reassembler.Add(s_peerA, Fragment(body, offset: 40, length: 60, recordSequence: 2), _output));
        Assert.Equal(0, reassembler.Add(s_peerA, Fragment(body, offset: 0, length: 100, recordSequence: 3), _output)); // a retransmission
        var last = Fragment(body, offset: 90, length: 60, recordSequence: 4);
        Assert.Equal(Whole, reassembler.Add(s_peerA, last, _output));

        AssertReassembled(body, last, messageSequence: 0);
    }

    [Fact]
    public void A_gap_keeps_the_message_incomplete()
    {
        var reassembler = Reassembler();
        var body = Body(seed: 3);

        Assert.Equal(0, reassembler.Add(s_peerA, Fragment(body, offset: 0, length: 60, recordSequence: 1), _output));
        Assert.Equal(0, reassembler.Add(s_peerA, Fragment(body, offset: 61, length: 89, recordSequence: 2), _output));
        Assert.Equal(Whole, reassembler.Add(s_peerA, Fragment(body, offset: 60, length: 1, recordSequence: 3), _output));
    }

    [Fact]
    public void Fragments_in_several_records_of_one_datagram_complete_it_at_once()
    {
        var reassembler = Reassembler();
        var body = Body(seed: 4);
        var fragments = ThreeFragments(body);
        byte[] datagram = [.. fragments[0], .. fragments[1], .. fragments[2]];

        Assert.Equal(Whole, reassembler.Add(s_peerA, datagram, _output));

        AssertReassembled(body, fragments[2], messageSequence: 0);
    }

    [Fact]
    public void Several_fragments_in_one_record_complete_it_at_once()
    {
        var reassembler = Reassembler();
        var body = Body(seed: 5);
        byte[] handshake =
        [
            .. HandshakeFragment(body, 0, 50, messageSequence: 0),
            .. HandshakeFragment(body, 50, 50, messageSequence: 0),
            .. HandshakeFragment(body, 100, 50, messageSequence: 0),
        ];
        var datagram = Record(22, epoch: 0, sequence: 9, handshake);

        Assert.Equal(Whole, reassembler.Add(s_peerA, datagram, _output));

        AssertReassembled(body, datagram, messageSequence: 0);
    }

    [Fact]
    public void A_message_longer_than_the_maximum_is_ignored_even_when_all_fragments_come()
    {
        var reassembler = new ClientHelloReassembler(maxPeers: 4, maxMessageLength: MessageLength - 1, s_lifetime, _time);
        var fragments = ThreeFragments(Body(seed: 6));

        Assert.Equal(0, reassembler.Add(s_peerA, fragments[0], _output));
        Assert.Equal(0, reassembler.Add(s_peerA, fragments[1], _output));
        Assert.Equal(0, reassembler.Add(s_peerA, fragments[2], _output));
        Assert.Equal(0, reassembler.Add(s_peerA, [.. fragments[0], .. fragments[1], .. fragments[2]], _output));
    }

    [Fact]
    public void A_message_of_exactly_the_maximum_length_is_reassembled()
    {
        var reassembler = new ClientHelloReassembler(maxPeers: 4, maxMessageLength: MessageLength, s_lifetime, _time);
        var fragments = ThreeFragments(Body(seed: 6));

        Assert.Equal(Whole, reassembler.Add(s_peerA, [.. fragments[0], .. fragments[1], .. fragments[2]], _output));
    }

    [Fact]
    public void A_message_that_would_not_fit_the_output_is_ignored()
    {
        var reassembler = Reassembler();
        var fragments = ThreeFragments(Body(seed: 6));

        Assert.Equal(0, reassembler.Add(s_peerA, [.. fragments[0], .. fragments[1], .. fragments[2]], new byte[Whole - 1]));
    }

    [Fact]
    public void Fragments_from_two_peers_are_kept_apart()
    {
        var reassembler = Reassembler();
        var bodyA = Body(seed: 7);
        var bodyB = Body(seed: 8);
        var fromA = ThreeFragments(bodyA);
        var fromB = ThreeFragments(bodyB);

        Assert.Equal(0, reassembler.Add(s_peerA, fromA[0], _output));
        Assert.Equal(0, reassembler.Add(s_peerA, fromA[1], _output));
        Assert.Equal(0, reassembler.Add(s_peerB, fromB[2], _output)); // B's own first fragment, not A's third
        Assert.Equal(0, reassembler.Add(s_peerB, fromB[0], _output));
        Assert.Equal(Whole, reassembler.Add(s_peerA, fromA[2], _output));
        AssertReassembled(bodyA, fromA[2], messageSequence: 0);

        Assert.Equal(Whole, reassembler.Add(s_peerB, fromB[1], _output));
        AssertReassembled(bodyB, fromB[1], messageSequence: 0);
    }

    [Fact]
    public void The_peer_key_is_copied_so_a_reused_address_buffer_does_not_move_the_partial()
    {
        var reassembler = Reassembler();
        var body = Body(seed: 9);
        var fragments = ThreeFragments(body);
        var receiveAddress = new IPEndPoint(IPAddress.Parse("192.0.2.1"), 5000).Serialize();

        Assert.Equal(0, reassembler.Add(receiveAddress, fragments[0], _output));
        Assert.Equal(0, reassembler.Add(receiveAddress, fragments[1], _output));

        // The socket loop reuses its SocketAddress for the next datagram, from someone else.
        s_peerB.Buffer.Span[..s_peerB.Size].CopyTo(receiveAddress.Buffer.Span);
        Assert.Equal(0, reassembler.Add(receiveAddress, fragments[2], _output));

        Assert.Equal(Whole, reassembler.Add(s_peerA, fragments[2], _output));
    }

    [Fact]
    public void When_full_a_new_peer_evicts_the_oldest_partial()
    {
        var reassembler = new ClientHelloReassembler(maxPeers: 2, maxMessageLength: 1000, s_lifetime, _time);
        var fromA = ThreeFragments(Body(seed: 10));
        var fromB = ThreeFragments(Body(seed: 11));
        var fromC = ThreeFragments(Body(seed: 12));

        Assert.Equal(0, reassembler.Add(s_peerA, fromA[0], _output));
        Assert.Equal(0, reassembler.Add(s_peerA, fromA[1], _output));
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(0, reassembler.Add(s_peerB, fromB[0], _output));
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(0, reassembler.Add(s_peerC, fromC[0], _output)); // evicts A, the oldest

        // A's message is gone: its last fragment starts over (evicting B, now the oldest), and needs the rest again.
        Assert.Equal(0, reassembler.Add(s_peerA, fromA[2], _output));
        Assert.Equal(0, reassembler.Add(s_peerA, fromA[0], _output));
        Assert.Equal(Whole, reassembler.Add(s_peerA, fromA[1], _output));

        // C, younger than B, was kept.
        Assert.Equal(0, reassembler.Add(s_peerC, fromC[1], _output));
        Assert.Equal(Whole, reassembler.Add(s_peerC, fromC[2], _output));
    }

    [Fact]
    public void Below_the_peer_limit_nothing_is_evicted()
    {
        var reassembler = new ClientHelloReassembler(maxPeers: 3, maxMessageLength: 1000, s_lifetime, _time);
        var fromA = ThreeFragments(Body(seed: 10));
        var fromB = ThreeFragments(Body(seed: 11));
        var fromC = ThreeFragments(Body(seed: 12));

        Assert.Equal(0, reassembler.Add(s_peerA, [.. fromA[0], .. fromA[1]], _output));
        Assert.Equal(0, reassembler.Add(s_peerB, fromB[0], _output));
        Assert.Equal(0, reassembler.Add(s_peerC, fromC[0], _output));

        Assert.Equal(Whole, reassembler.Add(s_peerA, fromA[2], _output));
    }

    [Fact]
    public void A_partial_older_than_the_lifetime_starts_over()
    {
        var reassembler = Reassembler();
        var body = Body(seed: 13);
        var fragments = ThreeFragments(body);

        Assert.Equal(0, reassembler.Add(s_peerA, fragments[0], _output));
        Assert.Equal(0, reassembler.Add(s_peerA, fragments[1], _output));
        _time.Advance(s_lifetime + TimeSpan.FromMilliseconds(1));

        Assert.Equal(0, reassembler.Add(s_peerA, fragments[2], _output));
        Assert.Equal(0, reassembler.Add(s_peerA, fragments[0], _output));
        Assert.Equal(Whole, reassembler.Add(s_peerA, fragments[1], _output));
        AssertReassembled(body, fragments[1], messageSequence: 0);
    }

    [Fact]
    public void A_partial_within_the_lifetime_is_kept()
    {
        var reassembler = Reassembler();
        var fragments = ThreeFragments(Body(seed: 13));

        Assert.Equal(0, reassembler.Add(s_peerA, fragments[0], _output));
        Assert.Equal(0, reassembler.Add(s_peerA, fragments[1], _output));
        _time.Advance(s_lifetime);

        Assert.Equal(Whole, reassembler.Add(s_peerA, fragments[2], _output));
    }

    [Fact]
    public void A_fragment_of_another_handshake_message_is_ignored()
    {
        var reassembler = Reassembler();
        var body = Body(seed: 14);
        var fragments = ThreeFragments(body);
        var serverHello = Record(22, epoch: 0, sequence: 3, HandshakeFragment(body, 100, 50, messageSequence: 0, type: 2));

        Assert.Equal(0, reassembler.Add(s_peerA, fragments[0], _output));
        Assert.Equal(0, reassembler.Add(s_peerA, fragments[1], _output));
        Assert.Equal(0, reassembler.Add(s_peerA, serverHello, _output));

        // It did not count as the missing part.
        Assert.Equal(Whole, reassembler.Add(s_peerA, fragments[2], _output));
    }

    [Theory]
    [InlineData(23, 0)] // application data
    [InlineData(21, 0)] // alert
    [InlineData(22, 1)] // handshake, epoch 1
    public void A_record_that_is_not_an_epoch_0_handshake_is_ignored(byte contentType, ushort epoch)
    {
        var reassembler = Reassembler();
        var body = Body(seed: 15);
        var fragments = ThreeFragments(body);
        var other = Record(contentType, epoch, sequence: 3, HandshakeFragment(body, 100, 50, messageSequence: 0));

        Assert.Equal(0, reassembler.Add(s_peerA, fragments[0], _output));
        Assert.Equal(0, reassembler.Add(s_peerA, fragments[1], _output));
        Assert.Equal(0, reassembler.Add(s_peerA, other, _output));
        Assert.Equal(Whole, reassembler.Add(s_peerA, fragments[2], _output));
    }

    [Fact]
    public void A_datagram_is_ignored_from_its_first_bad_record_on()
    {
        var reassembler = Reassembler();
        var fragments = ThreeFragments(Body(seed: 16));
        var alert = Record(21, epoch: 0, sequence: 5, [2, 40]);

        Assert.Equal(0, reassembler.Add(s_peerA, [.. fragments[0], .. fragments[1], .. alert, .. fragments[2]], _output));

        Assert.Equal(Whole, reassembler.Add(s_peerA, fragments[2], _output));
    }

    [Fact]
    public void A_new_message_sequence_starts_over()
    {
        var reassembler = Reassembler();
        var body = Body(seed: 17);
        var first = ThreeFragments(body, messageSequence: 0);
        var second = ThreeFragments(body, messageSequence: 1);

        Assert.Equal(0, reassembler.Add(s_peerA, first[0], _output));
        Assert.Equal(0, reassembler.Add(s_peerA, first[1], _output));
        Assert.Equal(0, reassembler.Add(s_peerA, second[2], _output));
        Assert.Equal(0, reassembler.Add(s_peerA, second[0], _output));
        Assert.Equal(Whole, reassembler.Add(s_peerA, second[1], _output));

        AssertReassembled(body, second[1], messageSequence: 1);
    }

    [Fact]
    public void A_new_message_length_starts_over()
    {
        var reassembler = Reassembler();
        var body = Body(seed: 18);
        var fragments = ThreeFragments(body);
        var shorter = body[..120];

        Assert.Equal(0, reassembler.Add(s_peerA, fragments[0], _output));
        Assert.Equal(0, reassembler.Add(s_peerA, fragments[1], _output));
        Assert.Equal(0, reassembler.Add(s_peerA, Fragment(shorter, offset: 100, length: 20, recordSequence: 3), _output));
        Assert.Equal(13 + 12 + 120, reassembler.Add(s_peerA, Fragment(shorter, offset: 0, length: 100, recordSequence: 4), _output));
    }

    private ClientHelloReassembler Reassembler() => new(maxPeers: 4, maxMessageLength: 1000, s_lifetime, _time);

    private void AssertReassembled(byte[] body, byte[] lastRecord, int messageSequence)
    {
        // The record header of the last fragment to arrive (type, version, epoch, sequence), its length fixed.
        Assert.Equal(lastRecord[..11], _output[..11]);
        Assert.Equal(12 + MessageLength, BinaryPrimitives.ReadUInt16BigEndian(_output.AsSpan(11)));

        // One handshake header: client_hello, full length, the message sequence, offset 0, fragment length = full.
        var header = _output.AsSpan(13, 12);
        Assert.Equal(1, header[0]);
        Assert.Equal(MessageLength, ReadUInt24(header[1..]));
        Assert.Equal(messageSequence, BinaryPrimitives.ReadUInt16BigEndian(header[4..]));
        Assert.Equal(0, ReadUInt24(header[6..]));
        Assert.Equal(MessageLength, ReadUInt24(header[9..]));

        Assert.Equal(body, _output.AsSpan(25, MessageLength).ToArray());
    }

    /// <summary>The message in three records: bytes 0..49, 50..99, 100..149, record sequence numbers 1, 2, 3.</summary>
    private static byte[][] ThreeFragments(byte[] body, int messageSequence = 0) =>
    [
        Fragment(body, 0, 50, recordSequence: 1, messageSequence),
        Fragment(body, 50, 50, recordSequence: 2, messageSequence),
        Fragment(body, 100, 50, recordSequence: 3, messageSequence),
    ];

    private static byte[] Fragment(byte[] body, int offset, int length, long recordSequence, int messageSequence = 0) =>
        Record(22, epoch: 0, recordSequence, HandshakeFragment(body, offset, length, messageSequence));

    private static byte[] HandshakeFragment(byte[] body, int offset, int length, int messageSequence, byte type = 1)
    {
        var fragment = new byte[12 + length];
        fragment[0] = type;
        WriteUInt24(fragment.AsSpan(1), body.Length);
        BinaryPrimitives.WriteUInt16BigEndian(fragment.AsSpan(4), (ushort)messageSequence);
        WriteUInt24(fragment.AsSpan(6), offset);
        WriteUInt24(fragment.AsSpan(9), length);
        body.AsSpan(offset, length).CopyTo(fragment.AsSpan(12));
        return fragment;
    }

    private static byte[] Record(byte type, ushort epoch, long sequence, byte[] payload)
    {
        var record = new byte[13 + payload.Length];
        record[0] = type;
        BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(1), 0xFEFD);
        BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(3), epoch);
        for (int i = 0; i < 6; i++)
        {
            record[5 + i] = (byte)(sequence >> (8 * (5 - i)));
        }

        BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(11), (ushort)payload.Length);
        payload.CopyTo(record, 13);
        return record;
    }

    private static byte[] Body(int seed)
    {
        var body = new byte[MessageLength];
        for (int i = 0; i < body.Length; i++)
        {
            body[i] = (byte)((i * 7) + (seed * 31) + 1);
        }

        return body;
    }

    private static int ReadUInt24(ReadOnlySpan<byte> source) => (source[0] << 16) | (source[1] << 8) | source[2];

    private static void WriteUInt24(Span<byte> destination, int value)
    {
        destination[0] = (byte)(value >> 16);
        destination[1] = (byte)(value >> 8);
        destination[2] = (byte)value;
    }
}
