using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using SukatDtls.Transport.Features;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

public sealed class EchoTests(ITestOutputHelper output)
{
    private readonly ConnectionObserver _observer = new();

    private Task<DtlsTestHost> StartAsync(IPAddress address, Action<DtlsTransportOptions>? configure = null) =>
        DtlsTestHost.StartAsync<EchoConnectionHandler>(output, configure, [address], services => services.AddSingleton(_observer));

    public static TheoryData<string, string> Addresses => new()
    {
        { "127.0.0.1", "127.0.0.1" },
        { "::1", "::1" },
        { "::", "127.0.0.1" },
        { "::", "::1" },

        // A wildcard listener reached at another of its addresses than the one the kernel would send from towards the
        // client (a multi-homed server): the peer's socket must answer from the address the client sent to.
        { "0.0.0.0", "127.0.0.2" },
        { "::", "127.0.0.2" },
    };

    [Theory]
    [MemberData(nameof(Addresses))]
    public async Task Echoes_over_each_address_family(string listenAddress, string clientAddress)
    {
        await using var host = await StartAsync(IPAddress.Parse(listenAddress));
        var server = new IPEndPoint(IPAddress.Parse(clientAddress), host.DtlsEndPoint.Port);

        using var client = await TestDtlsClient.ConnectAsync(server);
        client.Send("hello over DTLS");
        Assert.Equal("hello over DTLS", client.ReceiveText());

        var observed = await _observer.NextAsync();
        var local = (IPEndPoint)observed.Connection.LocalEndPoint!;
        Assert.Equal(host.DtlsEndPoint.Port, local.Port);
        var remote = (IPEndPoint)observed.Connection.RemoteEndPoint!;
        Assert.Equal(client.LocalEndPoint.Port, remote.Port);
        Assert.Equal(Unmapped(client.LocalEndPoint.Address), Unmapped(remote.Address));

        // The peer's socket is on the address the client talks to (a wildcard listener's made concrete).
        Assert.Equal(IPAddress.Parse(clientAddress), Unmapped(local.Address));
        Assert.Equal(IPAddress.Parse(clientAddress), Unmapped(((IPEndPoint)observed.Socket!.LocalEndPoint!).Address));
    }

    private static IPAddress Unmapped(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    [Fact]
    public async Task Each_connection_has_its_own_socket_connected_to_the_peer_on_the_listening_port()
    {
        await using var host = await StartAsync(IPAddress.Loopback);
        using var first = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint);
        using var second = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint);
        first.Send("1");
        second.Send("2");
        Assert.Equal("1", first.ReceiveText());
        Assert.Equal("2", second.ReceiveText());

        var sockets = new[] { await _observer.NextAsync(), await _observer.NextAsync() }.Select(o => o.Socket!).ToArray();
        Assert.NotSame(sockets[0], sockets[1]);
        var clientPorts = new[] { first.LocalEndPoint.Port, second.LocalEndPoint.Port };
        foreach (var socket in sockets)
        {
            Assert.Equal(SocketType.Dgram, socket.SocketType);
            Assert.True(socket.Connected);
            Assert.Equal(host.DtlsEndPoint.Port, ((IPEndPoint)socket.LocalEndPoint!).Port);
            Assert.Contains(((IPEndPoint)socket.RemoteEndPoint!).Port, clientPorts);
        }

        Assert.NotEqual(((IPEndPoint)sockets[0].RemoteEndPoint!).Port, ((IPEndPoint)sockets[1].RemoteEndPoint!).Port);
        Assert.Equal(2, host.Listener.Statistics.PeerSocketsCreated);
    }

    [Fact]
    public async Task Rsa_certificate_negotiates_an_ECDHE_RSA_suite()
    {
        await using var host = await StartAsync(IPAddress.Loopback, o => o.ServerCertificate = TestCertificates.RsaServer());
        using var client = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint);
        client.Send("rsa");
        Assert.Equal("rsa", client.ReceiveText());

        var observed = await _observer.NextAsync();
        var session = observed.Connection.Features.Get<IDtlsSessionFeature>()!;
        Assert.StartsWith("TLS_ECDHE_RSA_WITH_", session.CipherSuiteName);
        Assert.Equal(client.CipherSuite, session.CipherSuite);
        Assert.Equal("DTLS 1.2", session.ProtocolVersion);
    }

    [Fact]
    public async Task Ecdsa_certificate_negotiates_an_ECDHE_ECDSA_suite_and_reports_it()
    {
        await using var host = await StartAsync(IPAddress.Loopback);
        using var client = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint);
        client.Send("ecdsa");
        Assert.Equal("ecdsa", client.ReceiveText());

        var observed = await _observer.NextAsync();
        var handshake = observed.Connection.Features.Get<Microsoft.AspNetCore.Connections.Features.ITlsHandshakeFeature>()!;
        Assert.Equal(client.CipherSuite, (int)handshake.NegotiatedCipherSuite!.Value);
        Assert.StartsWith("TLS_ECDHE_ECDSA_WITH_", handshake.NegotiatedCipherSuite.ToString());
        Assert.Null(observed.Connection.Features.Get<IDtlsSessionFeature>()!.PeerCertificate);
    }

    [Fact]
    public async Task Client_close_notify_ends_the_input_normally_and_frees_the_peer()
    {
        await using var host = await StartAsync(IPAddress.Loopback);
        using var client = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint);
        client.Send("bye");
        Assert.Equal("bye", client.ReceiveText());
        var observed = await _observer.NextAsync();

        client.Close();
        await observed.Ended.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(observed.InputCompletedNormally);
        Assert.Null(observed.Error);
        await Wait.UntilAsync(() => host.Listener.PeerCount == 0);
        Assert.True(observed.Connection.ConnectionClosed.IsCancellationRequested || await CancelledSoon(observed.Connection.ConnectionClosed));
        Assert.False(observed.Socket!.Connected && observed.Socket.Handle != IntPtr.Zero && IsOpen(observed.Socket));
    }

    [Fact]
    public async Task Large_writes_are_cut_into_records_that_fit()
    {
        await using var host = await StartAsync(IPAddress.Loopback);
        using var client = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint);
        var observed = await ConnectedAsync(client);
        int max = observed.Connection.Features.Get<IDtlsDatagramFeature>()!.MaxRecordSize;
        Assert.InRange(max, 1000, 1400);

        var payload = new byte[max * 3 + 17];
        Random.Shared.NextBytes(payload);
        await observed.Connection.Transport.Output.WriteAsync(payload);

        var received = new List<byte>();
        var sizes = new List<int>();
        while (received.Count < payload.Length)
        {
            var record = client.Receive() ?? throw new TimeoutException("missing record");
            sizes.Add(record.Length);
            received.AddRange(record);
        }

        Assert.Equal(payload, received.ToArray());
        Assert.All(sizes, size => Assert.True(size <= max));
        Assert.Equal(4, sizes.Count);
    }

    private async Task<ObservedConnection> ConnectedAsync(TestDtlsClient client)
    {
        client.Send("x");
        Assert.Equal("x", client.ReceiveText());
        return await _observer.NextAsync();
    }

    private static bool IsOpen(Socket socket)
    {
        try
        {
            _ = socket.Available;
            return true;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

    private static async Task<bool> CancelledSoon(CancellationToken token)
    {
        var tcs = new TaskCompletionSource();
        using var registration = token.Register(() => tcs.TrySetResult());
        await tcs.Task.WaitAsync(TimeSpan.FromSeconds(10));
        return true;
    }
}
