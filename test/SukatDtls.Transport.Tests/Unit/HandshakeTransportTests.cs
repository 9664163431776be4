using System.Net;
using System.Net.Sockets;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// The handshake's transport under BouncyCastle: one record per receive (so BouncyCastle keeps no records of its
/// own), what is left for the record layer at the end, packed flights, the final flight kept, and the sequence
/// numbers the handshake used.
/// </summary>
public sealed class HandshakeTransportTests : IDisposable
{
    private readonly Socket _peer = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);

    public HandshakeTransportTests()
    {
        _peer.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _socket.Connect(_peer.LocalEndPoint!);
        _peer.Connect(_socket.LocalEndPoint!);
    }

    public void Dispose()
    {
        _peer.Dispose();
        _socket.Dispose();
    }

    private HandshakeTransport Transport(int sendLimit = 1200) => new(_socket, receiveLimit: HandshakeReceiveLimit.Fixed(17_000), sendLimit, capacity: 8);

    private static byte[] Record(byte type, ushort epoch, ulong sequence, int payload) =>
        DtlsRecords.Record(type, epoch, sequence, Enumerable.Repeat((byte)sequence, payload).ToArray());

    private List<byte[]> ReceivedByPeer()
    {
        var datagrams = new List<byte[]>();
        var buffer = new byte[2048];
        while (_peer.Poll(200_000, SelectMode.SelectRead))
        {
            datagrams.Add(buffer.AsSpan(0, _peer.Receive(buffer)).ToArray());
        }

        return datagrams;
    }

    [Fact]
    public void A_datagram_of_several_records_is_handed_over_one_record_at_a_time()
    {
        var transport = Transport();
        byte[] first = Record(22, 0, 1, 40), second = Record(20, 0, 2, 1), third = Record(22, 1, 0, 60);
        Assert.True(transport.Enqueue([.. first, .. second, .. third]));
        var buffer = new byte[17_000];
        Assert.Equal(first, buffer[..transport.Receive(buffer, 0, buffer.Length, 100)]);
        Assert.Equal(second, buffer[..transport.Receive(buffer, 0, buffer.Length, 100)]);
        Assert.Equal(third, buffer[..transport.Receive(buffer, 0, buffer.Length, 100)]);
        Assert.Equal(-1, transport.Receive(buffer, 0, buffer.Length, 1));
    }

    [Fact]
    public void What_the_handshake_did_not_take_goes_to_the_record_layer_in_order_and_the_transport_closes()
    {
        var transport = Transport();
        byte[] finished = Record(22, 1, 0, 40), data = Record(23, 1, 1, 30), later = Record(23, 1, 2, 20);
        Assert.True(transport.Enqueue([.. finished, .. data]));
        Assert.True(transport.Enqueue(later));
        var buffer = new byte[17_000];
        Assert.Equal(finished, buffer[..transport.Receive(buffer, 0, buffer.Length, 100)]);

        var left = transport.CloseAndTakeQueued();
        Assert.Equal([data, later], left.Select(l => l.Buffer.AsSpan(l.Offset, l.Length).ToArray()));
        Assert.True(transport.IsClosed);
        Assert.False(transport.Enqueue(later));
        Assert.Throws<IOException>(() => transport.Receive(buffer, 0, buffer.Length, 1));
    }

    [Fact]
    public void Application_data_before_the_handshake_is_done_is_kept_for_the_record_layer_not_given_to_BouncyCastle()
    {
        var transport = Transport();
        byte[] early = Record(23, 1, 5, 30), finished = Record(22, 1, 1, 40), later = Record(23, 1, 6, 30);
        Assert.True(transport.Enqueue(early)); // overtook the Finished on the way
        Assert.True(transport.Enqueue([.. finished, .. later]));
        var buffer = new byte[17_000];
        Assert.Equal(finished, buffer[..transport.Receive(buffer, 0, buffer.Length, 100)]);
        Assert.Equal(-1, transport.Receive(buffer, 0, buffer.Length, 1));

        var left = transport.CloseAndTakeQueued();
        Assert.Equal([early, later], left.Select(l => l.Buffer.AsSpan(l.Offset, l.Length).ToArray()));
    }

    [Fact]
    public void A_flight_is_packed_into_one_datagram_and_leaves_when_the_handshake_turns_to_receiving()
    {
        var transport = Transport(sendLimit: 300);
        byte[] hello = Record(22, 0, 1, 100), certificate = Record(22, 0, 2, 100), done = Record(22, 0, 3, 50), big = Record(22, 0, 4, 150);
        transport.Send(hello, 0, hello.Length);
        transport.Send(certificate, 0, certificate.Length);
        Assert.False(_peer.Poll(50_000, SelectMode.SelectRead)); // nothing left yet
        transport.Send(done, 0, done.Length); // 113 + 113 + 63 = 289: still fits
        transport.Send(big, 0, big.Length); // does not fit: the first three leave together
        Assert.Equal(-1, transport.Receive(new byte[17_000], 0, 17_000, 1)); // turning to receive sends the rest

        var sent = ReceivedByPeer();
        Assert.Equal([[.. hello, .. certificate, .. done], big], sent);
        Assert.Equal(2, transport.DatagramsSent);
    }

    [Fact]
    public void The_flight_sent_last_is_the_final_flight_unless_a_receive_came_after_it()
    {
        var transport = Transport();
        byte[] clientKeyExchange = Record(22, 0, 2, 40), changeCipherSpec = Record(20, 0, 3, 1), finished = Record(22, 1, 0, 40);
        transport.Send(clientKeyExchange, 0, clientKeyExchange.Length);
        Assert.Equal(-1, transport.Receive(new byte[17_000], 0, 17_000, 1));
        transport.Send(changeCipherSpec, 0, changeCipherSpec.Length);
        transport.Send(finished, 0, finished.Length);
        transport.Flush();

        var flight = transport.TakeFinalFlight();
        Assert.NotNull(flight);
        Assert.Equal([[.. changeCipherSpec, .. finished]], flight);

        // A handshake that ended receiving (the peer's Finished came last) has none to resend.
        var receiving = Transport();
        receiving.Send(finished, 0, finished.Length);
        Assert.Equal(-1, receiving.Receive(new byte[17_000], 0, 17_000, 1));
        Assert.Null(receiving.TakeFinalFlight());
    }

    [Fact]
    public void The_record_layer_goes_on_after_the_last_epoch_1_sequence_number_the_handshake_used()
    {
        var transport = Transport();
        Assert.Equal(0, transport.NextEpoch1Sequence);
        transport.Send(Record(22, 0, 9, 10), 0, 23);
        Assert.Equal(0, transport.NextEpoch1Sequence); // epoch 0 does not count
        transport.Send(Record(22, 1, 0, 10), 0, 23);
        transport.Send(Record(22, 1, 3, 10), 0, 23); // a resent Finished
        Assert.Equal(4, transport.NextEpoch1Sequence);
    }

    [Fact]
    public void A_record_longer_than_the_handshake_can_take_is_dropped()
    {
        var transport = Transport();
        byte[] huge = Record(22, 0, 1, 500), small = Record(22, 0, 2, 10);
        Assert.True(transport.Enqueue(huge));
        Assert.True(transport.Enqueue(small));
        var buffer = new byte[100];
        Assert.Equal(small, buffer[..transport.Receive(buffer, 0, buffer.Length, 100)]);
    }
    [Fact]
    public async Task A_record_longer_than_the_learned_limit_is_lost_once_and_its_retransmission_fits()
    {
        // BouncyCastle sizes each receive buffer by GetReceiveLimit: it starts small and grows to what the peer sends.
        var limit = new HandshakeReceiveLimit(HandshakeReceiveLimit.Floor, 17_000);
        var transport = new HandshakeTransport(_socket, limit, sendLimit: 1200, capacity: 8);
        Assert.Equal(HandshakeReceiveLimit.Floor, transport.GetReceiveLimit());
        byte[] large = Record(22, 0, 1, 3000), retransmitted = Record(22, 0, 2, 3000);

        // The first copy arrives while BouncyCastle waits with a buffer of the old limit: dropped, as a lost datagram.
        int first = await ReceiveOnThreadAsync(transport, () => _peer.Send(large), waitMillis: 300);
        Assert.Equal(-1, first);
        Assert.Equal(3072, transport.GetReceiveLimit()); // 3,013 bytes, rounded up to a KiB

        // The peer's retransmission: the next receive's buffer holds it.
        var buffer = new byte[transport.GetReceiveLimit()];
        _peer.Send(retransmitted);
        int length = await Task.Factory.StartNew(() => transport.Receive(buffer, 0, buffer.Length, 5_000),
            CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(retransmitted, buffer[..length]);
    }

    [Fact]
    public void The_receive_limit_grows_in_steps_to_hold_what_came_and_never_beyond_its_ceiling_or_back()
    {
        var limit = new HandshakeReceiveLimit(1536, 17_000);
        limit.Learn(900);
        Assert.Equal(1536, limit.Current);
        limit.Learn(1537);
        Assert.Equal(2048, limit.Current);
        limit.Learn(1600);
        Assert.Equal(2048, limit.Current);
        limit.Learn(10_000);
        Assert.Equal(10_240, limit.Current);
        limit.Learn(16_999);
        Assert.Equal(17_000, limit.Current);
        limit.Learn(65_000);
        Assert.Equal(17_000, limit.Current);
        Assert.Equal(100, HandshakeReceiveLimit.Fixed(100).Current);
    }

    /// <summary>One Receive on its own thread with a buffer of the limit at the call, while <paramref name="send"/> runs.</summary>
    private static async Task<int> ReceiveOnThreadAsync(HandshakeTransport transport, Action send, int waitMillis)
    {
        var buffer = new byte[transport.GetReceiveLimit()];
        using var waiting = new ManualResetEventSlim();
        var receive = Task.Factory.StartNew(() =>
        {
            waiting.Set();
            return transport.Receive(buffer, 0, buffer.Length, waitMillis);
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        waiting.Wait();
        send();
        return await receive.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task The_handshake_thread_reads_the_peers_flight_from_the_socket_itself()
    {
        var transport = Transport();
        byte[] first = Record(22, 0, 1, 40), second = Record(22, 0, 2, 50);
        var receive = Task.Factory.StartNew(() =>
        {
            var buffer = new byte[17_000];
            var records = new List<byte[]>();
            for (int i = 0; i < 2; i++)
            {
                int length = transport.Receive(buffer, 0, buffer.Length, 5_000);
                records.Add(length < 0 ? [] : buffer[..length]);
            }

            return records;
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        // Two datagrams while Receive waits in poll(): both taken at that wake-up, handed over one record at a time.
        _peer.Send(first);
        _peer.Send(second);
        var records = await receive.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(first, records[0]);
        Assert.Equal(second, records[1]);
        Assert.True(transport.HeardFromPeer);
    }

    [Fact]
    public async Task A_datagram_another_peer_put_on_the_socket_before_connect_goes_to_the_connection_as_a_stray()
    {
        // The kernel keeps what reached the socket before connect(): the listener's race between bind() and connect().
        using var stranger = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        stranger.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        byte[] strayRecord = Record(22, 0, 7, 30), peerRecord = Record(22, 0, 1, 20);
        stranger.SendTo(strayRecord, socket.LocalEndPoint!);
        Assert.True(socket.Poll(5_000_000, SelectMode.SelectRead));
        socket.Connect(_peer.LocalEndPoint!);

        var transport = new HandshakeTransport(socket, receiveLimit: HandshakeReceiveLimit.Fixed(17_000), sendLimit: 1200, capacity: 8);
        var events = new RecordingEvents();
        transport.Attach(events, _peer.LocalEndPoint!.Serialize());
        _peer.SendTo(peerRecord, socket.LocalEndPoint!);

        var buffer = new byte[17_000];
        int received = await Task.Run(() => transport.Receive(buffer, 0, buffer.Length, 5_000)).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(peerRecord, buffer[..received]);
        var stray = Assert.Single(events.Strays);
        Assert.Equal(strayRecord, stray.Datagram);
        Assert.Equal(stranger.LocalEndPoint, stray.From);
    }

    [Fact]
    public async Task Closing_the_socket_wakes_a_handshake_waiting_for_the_peer()
    {
        var transport = Transport();
        var receive = Task.Factory.StartNew(() => transport.Receive(new byte[17_000], 0, 17_000, 60_000),
            CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        // Time to reach poll(), whose wake-up this is about; had it not, it would find the socket closed all the same.
        await Task.Delay(100);

        // The socket alone, without Transport.Shutdown(): closing it must wake poll(), not leave it to the 60 s wait.
        _socket.Dispose();
        await Assert.ThrowsAsync<IOException>(() => receive.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    private sealed class RecordingEvents : IHandshakeSocketEvents
    {
        public List<(byte[] Datagram, EndPoint From)> Strays { get; } = [];

        public void OnStrayDatagram(ReadOnlySpan<byte> datagram, SocketAddress from) =>
            Strays.Add((datagram.ToArray(), from.ToIPEndPoint()));

        public void OnUnreachableReported(SocketError error)
        {
        }
    }
}
