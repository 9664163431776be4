using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// The ICMP destination unreachable rule of a client's handshake transport (HandshakeTransport.Unreachable.cs), with
/// this test in BouncyCastle's place: it sends a flight and blocks in Receive, where the transport reads the socket
/// itself; the ICMP port unreachable reports are real ones the kernel delivers (forged through a raw socket: root, as the
/// path-MTU tests need, or from a closed port). One report never ends the handshake but brings a resend forward; a
/// report after that resend does; the server's answer clears the suspicion; a server's transport ignores reports; and
/// reports that reach a send count too.
/// </summary>
public sealed class HandshakeUnreachableTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    private readonly Socket _server = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly byte[] _clientHello = DtlsRecords.ClientHello;
    private readonly byte[] _serverRecord = DtlsRecords.Record(22, 0, 0, [2, 0, 0, 0]);

    public HandshakeUnreachableTests()
    {
        _server.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _socket.Connect(_server.LocalEndPoint!);
    }

    public void Dispose()
    {
        _server.Dispose();
        _socket.Dispose();
    }

    private HandshakeTransport Client() => new(_socket, receiveLimit: HandshakeReceiveLimit.Fixed(17_000), sendLimit: 1200, capacity: 8, unreachableEndsHandshake: true);

    /// <summary>BouncyCastle's receive on a thread of its own, as on a handshake thread: the record's bytes, or empty for -1.</summary>
    private static Task<byte[]> ReceiveAsync(HandshakeTransport transport, int waitMillis) => Task.Factory.StartNew(() =>
    {
        var buffer = new byte[17_000];
        int length = transport.Receive(buffer, 0, buffer.Length, waitMillis);
        return length < 0 ? [] : buffer[..length];
    }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <summary>A port with nothing bound to it (bound to port 0, then closed), on an address no other test uses.</summary>
    private static EndPoint ClosedPort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Parse("127.77.3.1"), 0));
        return socket.LocalEndPoint!;
    }

    /// <summary>ICMP port unreachable about our datagram to the server, as the server's host would send it.</summary>
    private void Refuse() =>
        ForgedIcmp.SendUnreachable(server: (IPEndPoint)_server.LocalEndPoint!, client: (IPEndPoint)_socket.LocalEndPoint!, ForgedIcmp.PortUnreachable);

    /// <summary>The server answers our socket.</summary>
    private void ServerAnswers() => _server.SendTo(_serverRecord, _socket.LocalEndPoint!);

    /// <summary>The next datagram the server's socket gets.</summary>
    private async Task<byte[]> ServerReceivesAsync()
    {
        var buffer = new byte[2048];
        using var timeout = new CancellationTokenSource(Bound);
        int length = await _server.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
        return buffer[..length];
    }

    [Fact]
    public async Task One_report_does_not_end_the_handshake_it_brings_the_resend_forward_and_the_server_may_still_answer()
    {
        var transport = Client();
        transport.Send(_clientHello);
        var receive = ReceiveAsync(transport, waitMillis: 5_000);
        Assert.Equal(_clientHello, await ServerReceivesAsync());

        var clock = Stopwatch.StartNew();
        Refuse();
        Assert.Equal(_clientHello, await ServerReceivesAsync());

        // The resend came after the confirmation delay, well before the 5 s wait; the handshake still waits.
        Assert.InRange(clock.Elapsed, HandshakeTransport.UnreachableConfirmationDelay - TimeSpan.FromMilliseconds(20), TimeSpan.FromSeconds(4));
        Assert.False(receive.IsCompleted);
        Assert.Null(transport.UnreachableError);

        // A server that was starting answers now.
        ServerAnswers();
        Assert.Equal(_serverRecord, await receive.WaitAsync(Bound));
        Assert.True(transport.HeardFromPeer);
    }

    [Fact]
    public async Task A_report_after_the_resend_ends_the_handshake_as_refused_and_nothing_more_is_sent()
    {
        var transport = Client();
        transport.Send(_clientHello);
        var receive = ReceiveAsync(transport, waitMillis: 10_000);
        await ServerReceivesAsync();
        Refuse();
        await ServerReceivesAsync();

        var clock = Stopwatch.StartNew();
        Refuse();
        var ex = await Assert.ThrowsAsync<DestinationUnreachableException>(() => receive.WaitAsync(Bound));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"refused after {clock.Elapsed}");
        Assert.Equal(SocketError.ConnectionRefused, ex.Error);
        Assert.Equal(SocketError.ConnectionRefused, transport.UnreachableError);

        // BouncyCastle's alert about the failure goes nowhere: nothing listens.
        transport.Send(DtlsRecords.Record(21, 0, 1, [2, 80]));
        transport.Flush();
        Assert.False(_server.Poll(200_000, SelectMode.SelectRead));
        Assert.False(transport.HeardFromPeer);
    }

    [Fact]
    public async Task A_datagram_from_the_server_clears_the_suspicion()
    {
        var transport = Client();
        transport.Send(_clientHello);
        var receive = ReceiveAsync(transport, waitMillis: 10_000);
        await ServerReceivesAsync();
        Refuse();
        await ServerReceivesAsync();
        ServerAnswers();
        Assert.Equal(_serverRecord, await receive.WaitAsync(Bound));

        // Without the server's datagram this report would have confirmed the refusal; now it only starts a new suspicion.
        Refuse();
        Assert.Empty(await ReceiveAsync(transport, waitMillis: 100).WaitAsync(Bound));
        Assert.Null(transport.UnreachableError);
    }

    [Fact]
    public async Task A_servers_transport_ignores_reports_it_neither_resends_nor_gives_up()
    {
        var transport = new HandshakeTransport(_socket, receiveLimit: HandshakeReceiveLimit.Fixed(17_000), sendLimit: 1200, capacity: 8);
        transport.Send(_clientHello);
        var receive = ReceiveAsync(transport, waitMillis: 600);
        await ServerReceivesAsync();
        for (int i = 0; i < 3; i++)
        {
            Refuse();
        }

        // Its wait ends as BouncyCastle asked (-1: resend yourself), with nothing sent in between.
        Assert.Empty(await receive.WaitAsync(Bound));
        Assert.False(_server.Poll(0, SelectMode.SelectRead));
        Assert.Null(transport.UnreachableError);
    }

    [Fact]
    public async Task A_closed_port_is_refused_by_the_confirming_resend_every_time()
    {
        // On loopback the kernel reports the ICMP for a datagram while its send is still returning: the resend is marked
        // as confirming before it leaves, or its report would only start a new suspicion. BouncyCastle's own resend
        // would come only after 5 s, so each of ten closed ports must be refused by the confirming resend.
        for (int run = 0; run < 10; run++)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.Connect(ClosedPort());
            var transport = new HandshakeTransport(socket, receiveLimit: HandshakeReceiveLimit.Fixed(17_000), sendLimit: 1200, capacity: 8, unreachableEndsHandshake: true);

            var clock = Stopwatch.StartNew();
            transport.Send(_clientHello);
            var receive = ReceiveAsync(transport, waitMillis: 5_000);
            await Assert.ThrowsAsync<DestinationUnreachableException>(() => receive.WaitAsync(Bound));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"run {run}: refused after {clock.Elapsed}, not by the confirming resend");
        }
    }

    [Fact]
    public async Task Reports_that_reach_a_send_count_too_so_a_closed_port_is_refused_without_a_receive_loop()
    {
        // A real closed port: the kernel's ICMP port unreachable, which nobody but the transport's own sends reads here.
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Connect(ClosedPort());
        var transport = new HandshakeTransport(socket, receiveLimit: HandshakeReceiveLimit.Fixed(17_000), sendLimit: 1200, capacity: 8, unreachableEndsHandshake: true);

        // BouncyCastle's loop: send the flight, wait 300 ms, resend on -1; bounded.
        var clock = Stopwatch.StartNew();
        var handshake = Task.Factory.StartNew(() =>
        {
            var buffer = new byte[17_000];
            while (clock.Elapsed < Bound)
            {
                transport.Send(_clientHello);
                transport.Receive(buffer, 0, buffer.Length, 300);
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        // Without the sends' reports the loop would end at the bound without an exception.
        var ex = await Assert.ThrowsAsync<DestinationUnreachableException>(() => handshake.WaitAsync(Bound + Bound));
        Assert.Equal(SocketError.ConnectionRefused, ex.Error);
    }
}
