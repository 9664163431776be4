using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>RFC 6347 §4.2.8: a client that restarts on the same address and port gets a new session at once.</summary>
public sealed class SamePortReconnectTests(ITestOutputHelper output)
{
    private readonly ConnectionObserver _observer = new();

    [Fact]
    public async Task A_client_killed_without_close_notify_reconnects_from_the_same_port_and_the_old_session_is_gone()
    {
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, configureServices: s => s.AddSingleton(_observer));

        // A free local port for the client, used twice.
        IPEndPoint local;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            local = (IPEndPoint)probe.LocalEndPoint!;
        }

        var first = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint, local);
        first.Send("first life");
        Assert.Equal("first life", first.ReceiveText());
        var old = await _observer.NextAsync();
        first.Dispose(); // killed: no close_notify

        using var second = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint, local, handshakeTimeoutMillis: 5_000);
        Assert.Equal(local.Port, second.LocalEndPoint.Port);
        second.Send("second life");
        Assert.Equal("second life", second.ReceiveText());

        var replacement = await _observer.NextAsync();
        Assert.NotSame(old.Connection, replacement.Connection);
        await old.Ended.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.IsType<ConnectionAbortedException>(old.Error);
        Assert.Contains("restarted", old.Error!.Message);
        Assert.True(old.Connection.ConnectionClosed.IsCancellationRequested);

        await Wait.UntilAsync(() => host.Listener.Statistics.ConnectionsClosed == 1);
        Assert.Equal(1, host.Listener.PeerCount);
        Assert.Equal(2, host.Listener.Statistics.PeerSocketsCreated);
        Assert.Contains(host.Logs.Entries, e => e.EventId.Id == 16);
    }

    [Fact]
    public async Task A_late_copy_of_the_ClientHello_that_made_the_connection_does_not_end_it()
    {
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, configureServices: s => s.AddSingleton(_observer));

        // Datagram 2 is the ClientHello that returns the cookie: valid, and the network may deliver it again late.
        byte[]? clientHelloWithCookie = null;
        using var client = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint, sent: (n, datagram) =>
        {
            if (n == 2)
            {
                clientHelloWithCookie = datagram;
            }
        });
        client.Send("before");
        Assert.Equal("before", client.ReceiveText());
        var observed = await _observer.NextAsync();

        long received = host.Listener.Statistics.DatagramsReceived;
        client.Socket.Send(clientHelloWithCookie!);
        await Wait.UntilAsync(() => host.Listener.Statistics.DatagramsReceived > received);

        client.Send("after");
        Assert.Equal("after", client.ReceiveText());
        Assert.False(observed.Connection.ConnectionClosed.IsCancellationRequested);
        Assert.Equal(1, host.Listener.Statistics.PeerSocketsCreated);
        Assert.DoesNotContain(host.Logs.Entries, e => e.EventId.Id == 16);
    }

    [Fact]
    public async Task A_ClientHello_without_a_valid_cookie_does_not_end_the_established_connection()
    {
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, configureServices: s => s.AddSingleton(_observer));
        using var client = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint);
        client.Send("alive");
        Assert.Equal("alive", client.ReceiveText());

        // A ClientHello (no cookie) from the established client's own address: it only earns a HelloVerifyRequest.
        long cookiesBefore = host.Listener.Statistics.CookiesSent;
        client.Socket.Send(DtlsRecords.ClientHello);
        await Wait.UntilAsync(() => host.Listener.Statistics.CookiesSent == cookiesBefore + 1);

        client.Send("still alive");
        Assert.Equal("still alive", client.ReceiveText());
        Assert.Equal(1, host.Listener.Statistics.PeerSocketsCreated);
    }
}
