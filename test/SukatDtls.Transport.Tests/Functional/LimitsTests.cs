using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Org.BouncyCastle.Tls;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>Each limit: reached, refused (no answer, counted), and recovered afterwards.</summary>
public sealed class LimitsTests
{
    private static async Task<DtlsConnectionListener> BindAsync(Action<DtlsTransportOptions> configure, TimeProvider? time = null,
        ILoggerFactory? loggers = null, IMeterFactory? meters = null)
    {
        var options = new DtlsTransportOptions { ServerCertificate = TestCertificates.EcdsaServer() };
        configure(options);
        var factory = new DtlsTransportFactory(Options.Create(options), loggers ?? NullLoggerFactory.Instance, time, meters);
        return (DtlsConnectionListener)await factory.BindAsync(new DtlsEndPoint(IPAddress.Loopback, 0));
    }

    private static IPEndPoint EndPointOf(DtlsConnectionListener listener) => ((DtlsEndPoint)listener.EndPoint).IPEndPoint;

    [Fact]
    public async Task MaxConnections_refuses_new_peers_until_one_leaves()
    {
        // A short server handshake timeout: a refused client's last retransmission may still arrive once a slot is free,
        // and then holds it for a handshake with a peer that has given up.
        await using var listener = await BindAsync(o => { o.MaxConnections = 1; o.HandshakeTimeout = TimeSpan.FromSeconds(2); });
        using var first = await TestDtlsClient.ConnectAsync(EndPointOf(listener));
        var connection = (await listener.AcceptAsync())!;

        await Assert.ThrowsAsync<TlsTimeoutException>(() => TestDtlsClient.ConnectAsync(EndPointOf(listener), handshakeTimeoutMillis: 1_500));
        Assert.True(listener.Statistics.RefusedByConnectionLimit >= 1);
        Assert.Equal(1, listener.Statistics.PeerSocketsCreated);

        first.Close();
        await connection.DisposeAsync();
        await Wait.UntilAsync(() => listener.PeerCount == 0);

        using var second = await TestDtlsClient.ConnectAsync(EndPointOf(listener), handshakeTimeoutMillis: 15_000);
        var accepted = await listener.AcceptAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(second.LocalEndPoint.Port, ((IPEndPoint)accepted!.RemoteEndPoint!).Port);
    }

    [Fact]
    public async Task MaxHandshakesPerSecondPerAddress_refuses_the_excess_until_the_next_second()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var listener = await BindAsync(o => o.MaxHandshakesPerSecondPerAddress = 2, time);

        using var one = await TestDtlsClient.ConnectAsync(EndPointOf(listener));
        using var two = await TestDtlsClient.ConnectAsync(EndPointOf(listener));

        // The third this (fake) second gets no answer; its ClientHello retransmission comes after 1 s of real time.
        var third = TestDtlsClient.ConnectAsync(EndPointOf(listener), handshakeTimeoutMillis: 10_000);
        await Wait.UntilAsync(() => listener.Statistics.RefusedByRateLimit >= 1);
        Assert.Equal(2, listener.Statistics.PeerSocketsCreated);

        time.Advance(TimeSpan.FromSeconds(1));
        using var admitted = await third.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(3, listener.Statistics.PeerSocketsCreated);
    }

    [Fact]
    public async Task A_full_accept_queue_refuses_the_connection_with_close_notify_counts_and_logs_it()
    {
        using var logs = new FakeLoggerProvider();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(logs));
        using var meters = new TestMeterFactory();
        using var refused = new MetricCollector<long>(meters, DtlsMetrics.MeterName, "dtls.refused_peers");

        // Nobody accepts: the first connection fills the queue of one, the next two are refused after their handshake.
        await using var listener = await BindAsync(o => o.AcceptQueueLength = 1, loggers: loggers, meters: meters);
        using var queued = await TestDtlsClient.ConnectAsync(EndPointOf(listener));
        using var second = await TestDtlsClient.ConnectAsync(EndPointOf(listener));
        using var third = await TestDtlsClient.ConnectAsync(EndPointOf(listener));

        // The refused peers hear close_notify at once; their connection is gone, the queued one waits.
        Assert.Null(second.Receive(timeoutMillis: 5_000));
        Assert.True(second.PeerSentCloseNotify);
        Assert.Null(third.Receive(timeoutMillis: 5_000));
        Assert.True(third.PeerSentCloseNotify);
        Assert.False(queued.PeerSentCloseNotify);
        await Wait.UntilAsync(() => listener.Statistics.ConnectionsClosed == 2);
        Assert.Equal(2, listener.Statistics.ConnectionsRefused);
        Assert.Equal(1, listener.PeerCount);
        Assert.Equal(2, refused.GetMeasurementSnapshot().Count(m => (string?)m.Tags["reason"] == "accept_queue_full"));

        // Logged once: the second refusal came within the same second (refusals are logged at most once a second).
        var logged = logs.Collector.GetSnapshot().Where(r => r.Id.Name == "AcceptQueueFull").ToList();
        Assert.Single(logged);
        Assert.Equal(LogLevel.Warning, logged[0].Level);
        Assert.Contains("accept queue (1) is full", logged[0].Message, StringComparison.Ordinal);

        var accepted = await listener.AcceptAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(queued.LocalEndPoint.Port, ((IPEndPoint)accepted!.RemoteEndPoint!).Port);
    }

    [Fact]
    public void The_rate_limiter_forgets_ended_windows_when_its_table_is_full()
    {
        var time = new FakeTimeProvider();
        var limiter = new HandshakeRateLimiter(perSecond: 1, time, maxTrackedAddresses: 2);
        Assert.True(limiter.TryAcquire(IPAddress.Parse("127.0.0.1")));
        Assert.False(limiter.TryAcquire(IPAddress.Parse("127.0.0.1")));
        Assert.True(limiter.TryAcquire(IPAddress.Parse("127.0.0.2")));

        // Full, and no window has ended: a third address is let through untracked.
        Assert.True(limiter.TryAcquire(IPAddress.Parse("127.0.0.3")));
        Assert.True(limiter.TryAcquire(IPAddress.Parse("127.0.0.3")));
        Assert.Equal(2, limiter.TrackedAddresses);

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(limiter.TryAcquire(IPAddress.Parse("127.0.0.3")));
        Assert.False(limiter.TryAcquire(IPAddress.Parse("127.0.0.3")));
        Assert.Equal(1, limiter.TrackedAddresses);
    }
}
