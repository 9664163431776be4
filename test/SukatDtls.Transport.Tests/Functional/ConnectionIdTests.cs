using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using SukatDtls.Transport.Client;
using SukatDtls.Transport.Features;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>
/// Connection IDs (RFC 9146) on per-peer connected sockets: a client whose NAT rebinds keeps its session (its records
/// reach the listening socket, are routed by ID, and the connection's socket follows it), while replayed and forged
/// records from other addresses move nothing, unknown IDs cost nothing, and without an ID a rebound client's old
/// connection ends cleanly by its idle timeout.
/// </summary>
public sealed class ConnectionIdTests(ITestOutputHelper output)
{
    private readonly ConnectionObserver _observer = new();

    private static DtlsConnectionFactory Client(bool requestConnectionId = true) => new(Options.Create(new DtlsClientOptions
    {
        TrustedCertificateAuthorities = TestClientCertificates.DevCa(),
        ServerName = "localhost",
        RequestConnectionId = requestConnectionId,
        MaxConcurrentHandshakes = 64,
    }), NullLoggerFactory.Instance);

    public static TheoryData<string> Loopbacks => new() { "127.0.0.1", "::1" };

    [Theory]
    [MemberData(nameof(Loopbacks))]
    public async Task A_client_with_a_connection_id_keeps_its_session_when_its_nat_rebinds(string loopback)
    {
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, configureServices: s => s.AddSingleton(_observer),
            dtlsAddresses: [IPAddress.Parse(loopback)]);
        await using var factory = Client();
        await using var proxy = new ImpairmentProxy(host.DtlsEndPoint, seed: 9146);
        await using var connection = await factory.ConnectAsync(proxy.EndPoint);
        var server = (await _observer.NextAsync()).Connection;
        var serverSession = server.Features.Get<IDtlsSessionFeature>()!;
        var clientSession = connection.Features.Get<IDtlsSessionFeature>()!;
        Assert.Equal(8, serverSession.LocalConnectionId.Length);
        Assert.Equal(serverSession.LocalConnectionId.ToArray(), clientSession.PeerConnectionId.ToArray());
        Assert.True(clientSession.LocalConnectionId.IsEmpty); // the client asked for none for itself
        Assert.Equal("before", await Lossy.EchoAsync(connection, "before"));
        var migration = server.Features.Get<IDtlsMigrationFeature>()!;
        var moved = new TaskCompletionSource<DtlsPeerMovedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        migration.PeerMoved += (_, e) => moved.TrySetResult(e);
        var before = (IPEndPoint)server.RemoteEndPoint!;

        proxy.Rebind();
        Assert.Equal("after", await Lossy.EchoAsync(connection, "after"));
        Assert.Equal("and on", await Lossy.EchoAsync(connection, "and on"));

        var e = await moved.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(before, e.Previous);
        Assert.Equal(proxy.ServerSidePort, ((IPEndPoint)server.RemoteEndPoint!).Port);
        Assert.Equal(server.RemoteEndPoint, e.Current);
        Assert.Equal(before, migration.PreviousRemoteEndPoint);
        Assert.Equal(1, migration.Migrations);
        Assert.Equal(1, host.Listener.Statistics.HandshakesCompleted);
        Assert.True(host.Listener.Statistics.DatagramsRoutedByConnectionId >= 1);
        Assert.Equal(1, host.Listener.PeerCount);

        // The connection's socket follows the peer: the next records come straight to it, not through the listener.
        long routed = host.Listener.Statistics.DatagramsRoutedByConnectionId;
        Assert.Equal("direct", await Lossy.EchoAsync(connection, "direct"));
        Assert.Equal(routed, host.Listener.Statistics.DatagramsRoutedByConnectionId);
    }

    [Fact]
    public async Task An_ipv4_peer_of_a_dual_stack_listener_has_an_ipv4_socket_and_keeps_its_session_when_it_moves_to_ipv6()
    {
        // An IPv4 peer of [::] gets an IPv4 socket (UdpSockets.PeerSocketFamily: an IPv6 socket paid a route lookup
        // per datagram sent to an IPv4-mapped address); the application still sees both ends IPv4-mapped.
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, configureServices: s => s.AddSingleton(_observer),
            dtlsAddresses: [IPAddress.IPv6Any]);
        await using var factory = Client();
        await using var proxy = new ImpairmentProxy(new IPEndPoint(IPAddress.Loopback, host.DtlsEndPoint.Port), seed: 4);
        await using var connection = await factory.ConnectAsync(proxy.EndPoint);
        var server = (await _observer.NextAsync()).Connection;
        Assert.Equal("over ipv4", await Lossy.EchoAsync(connection, "over ipv4"));
        Assert.Equal(AddressFamily.InterNetwork, ((DtlsConnection)server).Socket.AddressFamily);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback.MapToIPv6(), proxy.ServerSidePort), server.RemoteEndPoint);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback.MapToIPv6(), host.DtlsEndPoint.Port), server.LocalEndPoint);

        // The peer moves to ::1: that socket cannot follow, so the connection gets an IPv6 socket and closes the old one.
        var ipv4Socket = ((DtlsConnection)server).Socket;
        proxy.Rebind(via: new IPEndPoint(IPAddress.IPv6Loopback, host.DtlsEndPoint.Port));
        Assert.Equal("over ipv6", await Lossy.EchoAsync(connection, "over ipv6"));
        Assert.Equal(new IPEndPoint(IPAddress.IPv6Loopback, proxy.ServerSidePort), server.RemoteEndPoint);
        Assert.Equal(1, server.Features.Get<IDtlsMigrationFeature>()!.Migrations);
        Assert.Equal(AddressFamily.InterNetworkV6, ((DtlsConnection)server).Socket.AddressFamily);
        Assert.True(ipv4Socket.SafeHandle.IsClosed);
        long routed = host.Listener.Statistics.DatagramsRoutedByConnectionId;
        Assert.Equal("direct", await Lossy.EchoAsync(connection, "direct"));
        Assert.Equal(routed, host.Listener.Statistics.DatagramsRoutedByConnectionId);

        // And back to IPv4: an IPv4 socket again (the IPv6 one, connected anew, would keep the IPv4 receive address
        // its first connect() gave it — none for ::1 — and the peer's records would all come through the listener).
        var ipv6Socket = ((DtlsConnection)server).Socket;
        proxy.Rebind(via: new IPEndPoint(IPAddress.Loopback, host.DtlsEndPoint.Port));
        Assert.Equal("ipv4 again", await Lossy.EchoAsync(connection, "ipv4 again"));
        Assert.Equal(new IPEndPoint(IPAddress.Loopback.MapToIPv6(), proxy.ServerSidePort), server.RemoteEndPoint);
        Assert.Equal(2, server.Features.Get<IDtlsMigrationFeature>()!.Migrations);
        Assert.Equal(AddressFamily.InterNetwork, ((DtlsConnection)server).Socket.AddressFamily);
        Assert.True(ipv6Socket.SafeHandle.IsClosed);

        // And within IPv4: the same socket, connected anew.
        var socket = ((DtlsConnection)server).Socket;
        proxy.Rebind();
        Assert.Equal("ipv4 moved", await Lossy.EchoAsync(connection, "ipv4 moved"));
        Assert.Equal(new IPEndPoint(IPAddress.Loopback.MapToIPv6(), proxy.ServerSidePort), server.RemoteEndPoint);
        Assert.Equal(3, server.Features.Get<IDtlsMigrationFeature>()!.Migrations);
        Assert.Same(socket, ((DtlsConnection)server).Socket);
        routed = host.Listener.Statistics.DatagramsRoutedByConnectionId;
        Assert.Equal("direct again", await Lossy.EchoAsync(connection, "direct again"));
        Assert.Equal(routed, host.Listener.Statistics.DatagramsRoutedByConnectionId);
        Assert.Equal(1, host.Listener.PeerCount);
        Assert.Equal(1, host.Listener.Statistics.HandshakesCompleted);
        Assert.False(server.ConnectionClosed.IsCancellationRequested);
    }

    /// <summary>Where the listener binds, and the address clients reach it at: "::" is dual-stack, reached over IPv4.</summary>
    public static TheoryData<string, string> Listeners => new() { { "127.0.0.1", "127.0.0.1" }, { "::1", "::1" }, { "::", "127.0.0.1" } };

    [Theory]
    [MemberData(nameof(Listeners))]
    public async Task A_peer_given_the_address_another_connection_still_has_takes_it_and_the_other_waits_for_its_own(string listen, string reachAt)
    {
        // The waiting connection gets a new socket when its peer shows up: bound as the listening socket is (on a
        // dual-stack listener that is [::], not the IPv4-mapped address the old socket had after connect()).
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, configureServices: s => s.AddSingleton(_observer),
            dtlsAddresses: [IPAddress.Parse(listen)]);
        var server = new IPEndPoint(IPAddress.Parse(reachAt), host.DtlsEndPoint.Port);
        await using var factory = Client();
        await using var proxyA = new ImpairmentProxy(server, seed: 1);
        await using var proxyB = new ImpairmentProxy(server, seed: 2);
        await using var a = await factory.ConnectAsync(proxyA.EndPoint);
        var serverA = (await _observer.NextAsync()).Connection;
        await using var b = await factory.ConnectAsync(proxyB.EndPoint);
        var serverB = (await _observer.NextAsync()).Connection;
        Assert.Equal("a", await Lossy.EchoAsync(a, "a"));
        Assert.Equal("b", await Lossy.EchoAsync(b, "b"));

        // A's NAT mapping goes away (A is silent); the NAT gives A's old port to B.
        int portOfA = proxyA.ServerSidePort;
        proxyA.Rebind();
        proxyB.Rebind(portOfA);

        // B's records reach A's old socket first (the kernel's choice for that 4-tuple); A hands them on by their ID.
        Assert.Equal("b moved", await Lossy.EchoAsync(b, "b moved"));
        Assert.Equal(portOfA, ((IPEndPoint)serverB.RemoteEndPoint!).Port);
        Assert.Equal(1, serverB.Features.Get<IDtlsMigrationFeature>()!.Migrations);
        Assert.False(serverA.ConnectionClosed.IsCancellationRequested);
        Assert.Contains(host.Logs.Entries, e => e.EventId.Name == "PeerAddressTaken" && e.Message.Contains(serverA.ConnectionId, StringComparison.Ordinal));

        // A shows up at its new port: it gets a socket again, and both go on.
        Assert.Equal("a moved", await Lossy.EchoAsync(a, "a moved"));
        Assert.Equal(proxyA.ServerSidePort, ((IPEndPoint)serverA.RemoteEndPoint!).Port);
        Assert.Equal("b again", await Lossy.EchoAsync(b, "b again"));
        Assert.Equal("a again", await Lossy.EchoAsync(a, "a again"));
        Assert.Equal(2, host.Listener.PeerCount);
        Assert.Equal(2, host.Listener.Statistics.HandshakesCompleted);
    }

    [Fact]
    public async Task A_new_address_gets_at_most_three_times_what_it_sent_until_it_answers()
    {
        await using var host = await DtlsTestHost.StartAsync<HoldConnectionHandler>(output, configureServices: s => s.AddSingleton(_observer));
        await using var factory = Client();
        await using var proxy = new ImpairmentProxy(host.DtlsEndPoint, seed: 3);
        await using var client = await factory.ConnectAsync(proxy.EndPoint);
        var held = await _observer.NextAsync();
        var server = held.Connection;
        var clientView = client.Features.Get<IDtlsDatagramFeature>()!;
        var serverView = server.Features.Get<IDtlsDatagramFeature>()!;
        var buffer = new byte[clientView.MaxReceiveRecordSize];

        proxy.Rebind();
        await clientView.SendAsync("ping"u8.ToArray()); // a 4-byte record: about 50 bytes on the wire
        Assert.Equal(4, await serverView.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(1, server.Features.Get<IDtlsMigrationFeature>()!.Migrations);

        // Over the budget: lost, as on a network. Within it: delivered.
        long toClient = proxy.ServerToClient.Arrived;
        await serverView.SendAsync(new byte[1000]);
        await serverView.SendAsync(new byte[20]);
        Assert.Equal(20, await clientView.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(toClient + 1, proxy.ServerToClient.Arrived);

        // The new address answered after we sent to it: it receives there, and the budget is gone.
        await clientView.SendAsync("pong"u8.ToArray());
        Assert.Equal(4, await serverView.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        await serverView.SendAsync(new byte[1000]);
        Assert.Equal(1000, await clientView.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        held.Ended.TrySetResult();
    }

    [Fact]
    public async Task A_resumed_session_gets_a_new_connection_id()
    {
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, configureServices: s => s.AddSingleton(_observer));
        await using var factory = Client();
        byte[] first;
        DtlsResumableSession session;
        await using (var connection = await factory.ConnectAsync(host.DtlsEndPoint))
        {
            first = connection.Features.Get<IDtlsSessionFeature>()!.PeerConnectionId.ToArray();
            session = connection.Features.Get<IDtlsSessionFeature>()!.ResumableSession!;
        }

        await using var resumed = await factory.ConnectAsync(host.DtlsEndPoint, session);
        var features = resumed.Features.Get<IDtlsSessionFeature>()!;
        Assert.True(features.IsResumed);
        Assert.Equal(8, features.PeerConnectionId.Length);
        Assert.NotEqual(first, features.PeerConnectionId.ToArray());
        Assert.Equal("resumed", await Lossy.EchoAsync(resumed, "resumed"));
    }

    [Fact]
    public async Task Without_a_connection_id_a_rebound_client_loses_its_session_cleanly()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, o => o.IdleTimeout = TimeSpan.FromSeconds(30),
            configureServices: s => s.AddSingleton(_observer).AddSingleton<TimeProvider>(time));
        await using var factory = Client(requestConnectionId: false);
        await using var proxy = new ImpairmentProxy(host.DtlsEndPoint, seed: 1);
        await using var connection = await factory.ConnectAsync(proxy.EndPoint);
        var server = await _observer.NextAsync();
        Assert.True(server.Connection.Features.Get<IDtlsSessionFeature>()!.LocalConnectionId.IsEmpty);
        Assert.Equal("before", await Lossy.EchoAsync(connection, "before"));

        proxy.Rebind();
        long dropped = host.Listener.Statistics.DatagramsDropped;
        await connection.Transport.Output.WriteAsync("lost"u8.ToArray());
        await Wait.UntilAsync(() => host.Listener.Statistics.DatagramsDropped > dropped); // not a ClientHello: dropped
        time.Advance(TimeSpan.FromSeconds(31));
        await server.Ended.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await Wait.UntilAsync(() => host.Listener.PeerCount == 0);
        Assert.Equal(0, host.Listener.Statistics.DatagramsRoutedByConnectionId);
    }

    [Fact]
    public async Task Replayed_forged_and_older_records_from_another_address_move_nothing()
    {
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, configureServices: s => s.AddSingleton(_observer));
        await using var factory = Client();
        await using var proxy = new ImpairmentProxy(host.DtlsEndPoint, seed: 2);
        await using var connection = await factory.ConnectAsync(proxy.EndPoint);
        var server = (await _observer.NextAsync()).Connection;
        var dtls = (DtlsConnection)server;
        Assert.Equal("one", await Lossy.EchoAsync(connection, "one"));

        // A record the network holds back (dropped here, kept by the test), then a newer one that arrives.
        int held = proxy.ClientToServer.Datagrams.Count + 1;
        proxy.Impair(new Impairment { DropNumbers = new HashSet<long> { held } }, Impairment.None);
        await connection.Transport.Output.WriteAsync("held"u8.ToArray());
        await Wait.UntilAsync(() => proxy.ClientToServer.Dropped == 1);
        byte[] older = proxy.ClientToServer.Datagrams[held - 1];
        proxy.Impair(Impairment.None);
        Assert.Equal("two", await Lossy.EchoAsync(connection, "two"));
        byte[] seen = proxy.ClientToServer.Datagrams[^1];
        byte[] forged = (byte[])seen.Clone();
        forged[^1] ^= 1;

        using var third = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        third.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var before = server.RemoteEndPoint;
        long accepted = dtls.AcceptedDatagrams, droppedAtConnection = dtls.DroppedDatagrams;
        third.SendTo(seen, host.DtlsEndPoint);   // a replay: dropped
        third.SendTo(forged, host.DtlsEndPoint); // a forgery: dropped
        third.SendTo(older, host.DtlsEndPoint);  // authentic but older than the newest: delivered, but no move
        await Wait.UntilAsync(() => dtls.DroppedDatagrams == droppedAtConnection + 2 && dtls.AcceptedDatagrams == accepted + 1);

        Assert.Equal(before, server.RemoteEndPoint);
        Assert.Equal(0, server.Features.Get<IDtlsMigrationFeature>()!.Migrations);
        Assert.Equal("held", System.Text.Encoding.UTF8.GetString(await Lossy.ReadExactlyAsync(connection.Transport.Input, 4))); // echoed to the real peer
        Assert.Equal("three", await Lossy.EchoAsync(connection, "three"));
    }

    [Fact]
    public async Task Unknown_connection_ids_are_counted_and_routing_them_allocates_nothing()
    {
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, configureServices: s => s.AddSingleton(_observer));
        var listener = host.Listener;
        var from = new IPEndPoint(IPAddress.Loopback, 40_000).Serialize();
        var random = new Random(9146);
        var datagrams = Enumerable.Range(0, 64).Select(_ =>
        {
            var record = DtlsRecords.Record((byte)DtlsContentType.Tls12Cid, 1, 7, new byte[8 + 2 + 40]);
            random.NextBytes(record.AsSpan(11, 8)); // the ID
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(19), 40);
            return record.AsSpan(0, 13 + 8 + 40).ToArray();
        }).ToArray();

        long dropped = listener.Statistics.DatagramsDropped;
        listener.RouteByConnectionId(datagrams[0], from); // warm
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1_000; i++)
        {
            listener.RouteByConnectionId(datagrams[i % datagrams.Length], from);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - allocated);
        Assert.Equal(dropped + 1_001, listener.Statistics.DatagramsDropped);

        // And through the socket: dropped and counted, no peer made.
        using var sender = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        sender.SendTo(datagrams[1], host.DtlsEndPoint);
        await Wait.UntilAsync(() => listener.Statistics.DatagramsDropped == dropped + 1_002);
        Assert.Equal(0, listener.Statistics.PeerSocketsCreated);
    }
}
