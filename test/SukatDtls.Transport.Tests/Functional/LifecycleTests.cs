using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Org.BouncyCastle.Tls;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

public sealed class LifecycleTests(ITestOutputHelper output)
{
    private readonly ConnectionObserver _observer = new();

    [Fact]
    public async Task Handler_end_sends_close_notify_and_frees_the_peer()
    {
        await using var host = await DtlsTestHost.StartAsync<CloseAfterFirstRecordHandler>(output, configureServices: s => s.AddSingleton(_observer));
        using var client = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint);
        client.Send("only one");
        Assert.Equal("only one", client.ReceiveText());

        // The server's close_notify makes the client's receive end without data.
        Assert.Null(client.Receive(timeoutMillis: 5_000));
        Assert.True(client.PeerSentCloseNotify);
        await Wait.UntilAsync(() => host.Listener.PeerCount == 0);
        Assert.Equal(1, host.Listener.Statistics.ConnectionsClosed);
    }

    [Fact]
    public async Task Idle_timeout_ends_a_silent_peer_with_close_notify()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output,
            o => o.IdleTimeout = TimeSpan.FromSeconds(30),
            configureServices: s => s.AddSingleton(_observer).AddSingleton<TimeProvider>(time));
        using var client = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint);
        client.Send("ping");
        Assert.Equal("ping", client.ReceiveText());
        var observed = await _observer.NextAsync();

        // 29 s of silence: still open, proven by a record the server sends now (sending is no activity; receiving is).
        time.Advance(TimeSpan.FromSeconds(29));
        await AssertStillOpenAsync(client, observed, "still here at 29 s");
        Assert.Equal(1, host.Listener.PeerCount);

        time.Advance(TimeSpan.FromSeconds(2));
        await observed.Ended.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.IsType<ConnectionAbortedException>(observed.Error);
        Assert.Contains("idle", observed.Error!.Message);
        Assert.Null(client.Receive(timeoutMillis: 5_000));
        Assert.True(client.PeerSentCloseNotify);
        await Wait.UntilAsync(() => host.Listener.PeerCount == 0);
    }

    [Fact]
    public async Task Activity_keeps_a_connection_alive_past_the_idle_timeout()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output,
            o => o.IdleTimeout = TimeSpan.FromSeconds(30),
            configureServices: s => s.AddSingleton(_observer).AddSingleton<TimeProvider>(time));
        using var client = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint);
        for (int i = 0; i < 4; i++)
        {
            client.Send($"ping {i}");
            Assert.Equal($"ping {i}", client.ReceiveText());
            time.Advance(TimeSpan.FromSeconds(20));
        }

        // 80 s in all, never 30 s without a record: still open, and it still answers.
        var observed = await _observer.NextAsync();
        await AssertStillOpenAsync(client, observed, "still here at 80 s");
        client.Send("and echoes");
        Assert.Equal("and echoes", client.ReceiveText());
        Assert.Equal(1, host.Listener.PeerCount);
    }

    /// <summary>
    /// The connection is open: a record the server sends now reaches the client, no close_notify came before it, and none
    /// comes within half a second after it (an asynchronous close would have sent one by then); the handler still runs.
    /// The server sends rather than echoes, so the check is no activity that would reset the idle clock.
    /// </summary>
    internal static async Task AssertStillOpenAsync(TestDtlsClient client, ObservedConnection observed, string probe)
    {
        var datagrams = observed.Connection.Features.Get<SukatDtls.Transport.Features.IDtlsDatagramFeature>()!;
        await datagrams.SendAsync(System.Text.Encoding.UTF8.GetBytes(probe)).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(probe, client.ReceiveText(timeoutMillis: 5_000));
        Assert.Null(client.Receive(timeoutMillis: 500));
        Assert.False(client.PeerSentCloseNotify);
        Assert.False(observed.Ended.Task.IsCompleted);
        Assert.False(observed.Connection.ConnectionClosed.IsCancellationRequested);
    }

    [Fact]
    public async Task Unbind_stops_new_peers_while_established_connections_go_on_and_accept_returns_null()
    {
        var options = new DtlsTransportOptions { ServerCertificate = TestCertificates.EcdsaServer() };
        var factory = new DtlsTransportFactory(Options.Create(options), NullLoggerFactory.Instance);
        var listener = await factory.BindAsync(new DtlsEndPoint(IPAddress.Loopback, 0));
        var endPoint = ((DtlsEndPoint)listener.EndPoint).IPEndPoint;
        Assert.NotEqual(0, endPoint.Port);

        using var client = await TestDtlsClient.ConnectAsync(endPoint);
        var connection = await listener.AcceptAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.NotNull(connection);
        var echo = EchoAsync(connection!);

        await listener.UnbindAsync();
        Assert.Null(await listener.AcceptAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10)));

        client.Send("still here");
        Assert.Equal("still here", client.ReceiveText());

        await Assert.ThrowsAsync<TlsTimeoutException>(() => TestDtlsClient.ConnectAsync(endPoint, handshakeTimeoutMillis: 1_500));

        client.Close();
        await echo.WaitAsync(TimeSpan.FromSeconds(10));
        await connection!.DisposeAsync();
        await listener.DisposeAsync();
    }

    /// <summary>
    /// The ConnectionClosed token is made only when asked for (a connection nobody asked closes without a thread-pool
    /// work item to cancel it); asked for after the close, it is cancelled already, and asked for before, it is cancelled
    /// by the close.
    /// </summary>
    [Fact]
    public async Task ConnectionClosed_asked_for_before_or_after_the_close_is_cancelled()
    {
        var options = new DtlsTransportOptions { ServerCertificate = TestCertificates.EcdsaServer() };
        var factory = new DtlsTransportFactory(Options.Create(options), NullLoggerFactory.Instance);
        await using var listener = await factory.BindAsync(new DtlsEndPoint(IPAddress.Loopback, 0));
        var endPoint = ((DtlsEndPoint)listener.EndPoint).IPEndPoint;

        using var late = await TestDtlsClient.ConnectAsync(endPoint);
        await using var notAsked = (await listener.AcceptAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10)))!;
        using var early = await TestDtlsClient.ConnectAsync(endPoint);
        await using var asked = (await listener.AcceptAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10)))!;
        var askedToken = asked.ConnectionClosed;
        var cancelled = new TaskCompletionSource();
        using var registration = askedToken.Register(cancelled.SetResult);
        Assert.False(askedToken.IsCancellationRequested);

        // Each client's close_notify ends its server side's input (EOF), and the connection closes.
        late.Close();
        early.Close();
        Assert.True((await notAsked.Transport.Input.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10))).IsCompleted);
        await cancelled.Task.WaitAsync(TimeSpan.FromSeconds(10));

        // The input ends just before the close is fired: a token asked for in between is cancelled by the close.
        await Wait.UntilAsync(() => notAsked.ConnectionClosed.IsCancellationRequested, timeoutMillis: 5_000);
    }

    [Fact]
    public async Task A_failed_handshake_is_counted_and_never_escapes_accept()
    {
        var options = new DtlsTransportOptions { ServerCertificate = TestCertificates.EcdsaServer() };
        var factory = new DtlsTransportFactory(Options.Create(options), NullLoggerFactory.Instance);
        await using var listener = (DtlsConnectionListener)await factory.BindAsync(new DtlsEndPoint(IPAddress.Loopback, 0));
        var endPoint = ((DtlsEndPoint)listener.EndPoint).IPEndPoint;
        var accept = listener.AcceptAsync().AsTask();

        // RSA suites only, against an ECDSA certificate: no suite in common.
        await Assert.ThrowsAnyAsync<TlsException>(() => TestDtlsClient.ConnectAsync(endPoint,
            cipherSuites: [CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]));
        await Wait.UntilAsync(() => listener.Statistics.HandshakesFailed == 1 && listener.PeerCount == 0);
        Assert.False(accept.IsCompleted);

        using var good = await TestDtlsClient.ConnectAsync(endPoint);
        var connection = await accept.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.NotNull(connection);
        Assert.Equal(good.LocalEndPoint.Port, ((IPEndPoint)connection!.RemoteEndPoint!).Port);
        await connection.DisposeAsync();
    }

    [Fact]
    public async Task Beyond_the_handshake_caps_a_new_peer_gets_no_answer_and_its_retransmission_gets_in_later()
    {
        var options = new DtlsTransportOptions
        {
            ServerCertificate = TestCertificates.EcdsaServer(),
            MaxConcurrentHandshakes = 1,
            HandshakeQueueLength = 0,
            HandshakeTimeout = TimeSpan.FromSeconds(2),
        };
        var factory = new DtlsTransportFactory(Options.Create(options), NullLoggerFactory.Instance);
        await using var listener = (DtlsConnectionListener)await factory.BindAsync(new DtlsEndPoint(IPAddress.Loopback, 0));
        var endPoint = ((DtlsEndPoint)listener.EndPoint).IPEndPoint;

        // ClientHello, then ClientHello with the cookie, then silence: it holds the only handshake thread.
        var stalled = TestDtlsClient.ConnectAsync(endPoint, handshakeTimeoutMillis: 4_000, stopSendingAfter: 2);
        await Wait.UntilAsync(() => listener.Statistics.HandshakesStarted == 1);

        var second = TestDtlsClient.ConnectAsync(endPoint, handshakeTimeoutMillis: 15_000);
        await Wait.UntilAsync(() => listener.Statistics.HandshakesRefused >= 1);
        Assert.Equal(1, listener.Statistics.PeerSocketsCreated);

        using var client = await second.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(1, listener.Statistics.HandshakesFailed);
        var connection = await listener.AcceptAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(client.LocalEndPoint.Port, ((IPEndPoint)connection!.RemoteEndPoint!).Port);
        await Assert.ThrowsAnyAsync<Exception>(() => stalled);
        await connection.DisposeAsync();
    }

    [Fact]
    public async Task Missing_certificate_fails_start_with_a_clear_message()
    {
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            DtlsTestHost.StartAsync<EchoConnectionHandler>(output, o => o.ServerCertificate = null, configureServices: s => s.AddSingleton(_observer)));
        Assert.Contains("ServerCertificate", ex.Message);
    }

    [Fact]
    public async Task Port_in_use_is_an_AddressInUseException()
    {
        using var occupier = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        occupier.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var options = new DtlsTransportOptions { ServerCertificate = TestCertificates.EcdsaServer() };
        var factory = new DtlsTransportFactory(Options.Create(options), NullLoggerFactory.Instance);
        await Assert.ThrowsAsync<AddressInUseException>(() =>
            factory.BindAsync(new DtlsEndPoint((IPEndPoint)occupier.LocalEndPoint!)).AsTask());
    }

    [Fact]
    public async Task Bind_rejects_other_endpoint_types()
    {
        var options = new DtlsTransportOptions { ServerCertificate = TestCertificates.EcdsaServer() };
        var factory = new DtlsTransportFactory(Options.Create(options), NullLoggerFactory.Instance);
        Assert.False(factory.CanBind(new IPEndPoint(IPAddress.Loopback, 0)));
        Assert.True(factory.CanBind(new DtlsEndPoint(IPAddress.Loopback, 0)));
        await Assert.ThrowsAsync<NotSupportedException>(() => factory.BindAsync(new IPEndPoint(IPAddress.Loopback, 0)).AsTask());
    }

    private static async Task EchoAsync(ConnectionContext connection)
    {
        while (true)
        {
            var result = await connection.Transport.Input.ReadAsync();
            foreach (var segment in result.Buffer)
            {
                await connection.Transport.Output.WriteAsync(segment);
            }

            connection.Transport.Input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return;
            }
        }
    }
}
