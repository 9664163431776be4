using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using SukatDtls.Transport.Features;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>Peers that vanish: after the handshake (ICMP port unreachable) and in the middle of it.</summary>
public sealed class FaultTests(ITestOutputHelper output)
{
    private readonly ConnectionObserver _observer = new();

    [Fact]
    public async Task A_vanished_peer_causes_no_busy_loop_and_the_idle_timeout_ends_its_connection()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output,
            o => o.IdleTimeout = TimeSpan.FromSeconds(30),
            configureServices: s => s.AddSingleton(_observer).AddSingleton<TimeProvider>(time));
        var client = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint);
        client.Send("hello");
        Assert.Equal("hello", client.ReceiveText());
        var observed = await _observer.NextAsync();
        var connection = (DtlsConnection)observed.Connection;
        client.Dispose(); // the peer's port is closed now: the kernel answers our datagrams with ICMP port unreachable

        var datagrams = connection.Features.Get<IDtlsDatagramFeature>()!;
        const int Sends = 5;
        for (int i = 0; i < Sends; i++)
        {
            await datagrams.SendAsync(new byte[] { (byte)i });
            int expected = i + 1;
            await Wait.UntilAsync(() => connection.UnreachableErrors >= expected);
        }

        // One error per datagram sent, not a spin; the connection is still there until the idle timeout: 29 s later
        // it still sends (a closed connection's send throws), and the kernel's answer still reaches its socket.
        Assert.Equal(Sends, connection.UnreachableErrors);
        time.Advance(TimeSpan.FromSeconds(29));
        await datagrams.SendAsync(new byte[] { 29 });
        await Wait.UntilAsync(() => connection.UnreachableErrors == Sends + 1);
        Assert.False(observed.Ended.Task.IsCompleted);
        Assert.Equal(1, host.Listener.PeerCount);

        time.Advance(TimeSpan.FromSeconds(2));
        await observed.Ended.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await Wait.UntilAsync(() => host.Listener.PeerCount == 0);

        // The close_notify sent on the way out may earn one more.
        Assert.InRange(connection.UnreachableErrors, Sends + 1, Sends + 2);
    }

    [Fact]
    public async Task ICMP_port_unreachable_does_not_end_a_connection_whose_peer_comes_back_on_its_port()
    {
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, configureServices: s => s.AddSingleton(_observer));

        // Through a relay whose port towards the server can close and open again (a peer that restarts its socket).
        await using var proxy = new ImpairmentProxy(host.DtlsEndPoint, seed: 111);
        using var client = await TestDtlsClient.ConnectAsync(proxy.EndPoint);
        client.Send("before");
        Assert.Equal("before", client.ReceiveText());
        var observed = await _observer.NextAsync();
        var connection = (DtlsConnection)observed.Connection;
        var datagrams = connection.Features.Get<IDtlsDatagramFeature>()!;

        // The peer's port closes: each record the server sends is answered with ICMP port unreachable.
        int port = proxy.ServerSidePort;
        proxy.Rebind();
        for (int i = 1; i <= 3; i++)
        {
            await datagrams.SendAsync(new byte[] { (byte)i });
            int expected = i;
            await Wait.UntilAsync(() => connection.UnreachableErrors >= expected);
        }

        // The port opens again: the connection is the same, and it echoes; no close_notify was sent.
        proxy.Rebind(port);
        client.Send("after");
        Assert.Equal("after", client.ReceiveText());
        Assert.False(client.PeerSentCloseNotify);
        Assert.Equal(3, connection.UnreachableErrors);
        Assert.False(observed.Ended.Task.IsCompleted);
        Assert.Equal(1, host.Listener.Statistics.PeerSocketsCreated);
    }

    [Fact]
    public async Task A_peer_that_vanishes_mid_handshake_is_freed_by_the_handshake_timeout()
    {
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output,
            o => o.HandshakeTimeout = TimeSpan.FromSeconds(1),
            configureServices: s => s.AddSingleton(_observer));

        // ClientHello, ClientHello with the cookie, then nothing more.
        await Assert.ThrowsAnyAsync<Exception>(() => TestDtlsClient.ConnectAsync(host.DtlsEndPoint, handshakeTimeoutMillis: 3_000, stopSendingAfter: 2));
        await Wait.UntilAsync(() => host.Listener.Statistics.HandshakesFailed == 1 && host.Listener.PeerCount == 0);
        Assert.Equal(1, host.Listener.Statistics.PeerSocketsCreated);
        Assert.Equal(0, host.Listener.Handshakes.InProgress);
        Assert.Contains(host.Logs.Entries, e => e.EventId.Id == 5 && e.Message.Contains("timed out", StringComparison.Ordinal));
        Assert.Empty(_observer.All);
    }
}
