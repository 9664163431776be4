using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>Every instrument of the <c>SukatDtls.Transport</c> meter, after a scripted session.</summary>
public sealed class MetricsTests(ITestOutputHelper output)
{
    private readonly ConnectionObserver _observer = new();

    [Fact]
    public async Task A_scripted_session_shows_in_every_instrument()
    {
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output,
            o => o.MaxConnections = 1,
            configureServices: s => s.AddSingleton(_observer));
        var meters = host.Services.GetRequiredService<IMeterFactory>();
        MetricCollector<long> Long(string name) => new(meters, DtlsMetrics.MeterName, name);
        MetricCollector<double> Double(string name) => new(meters, DtlsMetrics.MeterName, name);
        using var activeConnections = Long("dtls.active_connections");
        using var connectionDuration = Double("dtls.connection.duration");
        using var activeHandshakes = Long("dtls.active_handshakes");
        using var handshakeDuration = Double("dtls.handshake.duration");
        using var refusedPeers = Long("dtls.refused_peers");
        using var cookiesSent = Long("dtls.cookies_sent");
        using var droppedDatagrams = Long("dtls.dropped_datagrams");
        using var receivedBytes = Long("dtls.received_bytes");
        using var sentBytes = Long("dtls.sent_bytes");
        using var receivedRecords = Long("dtls.received_records");
        using var sentRecords = Long("dtls.sent_records");

        // Connect and transfer.
        var client = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint);
        client.Send("hello");
        Assert.Equal("hello", client.ReceiveText());
        var observed = await _observer.NextAsync();

        // Junk at the listener and at the established socket.
        using (var junk = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp))
        {
            junk.SendTo(new byte[] { 1, 2, 3 }, host.DtlsEndPoint);
        }

        client.Socket.Send(DtlsRecords.Record(23, 7, 1, new byte[32]));

        // A second peer is refused: MaxConnections is 1.
        await Assert.ThrowsAsync<Org.BouncyCastle.Tls.TlsTimeoutException>(() =>
            TestDtlsClient.ConnectAsync(host.DtlsEndPoint, handshakeTimeoutMillis: 1_500));

        // Close.
        client.Close();
        await observed.Ended.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await Wait.UntilAsync(() => connectionDuration.GetMeasurementSnapshot().Count == 1);

        Assert.Equal([1, -1], activeConnections.GetMeasurementSnapshot().Select(m => m.Value));
        Assert.True(connectionDuration.GetMeasurementSnapshot().Single().Value > 0);
        Assert.Equal([1, -1], activeHandshakes.GetMeasurementSnapshot().Select(m => m.Value));
        var handshake = handshakeDuration.GetMeasurementSnapshot().Single();
        Assert.True(handshake.Value > 0);
        Assert.StartsWith("TLS_ECDHE_ECDSA_WITH_", (string)handshake.Tags["tls.cipher"]!);
        Assert.Equal(false, handshake.Tags["dtls.resumed"]);
        Assert.False(handshake.Tags.ContainsKey("error.type"));
        Assert.Contains(refusedPeers.GetMeasurementSnapshot(), m => (string?)m.Tags["reason"] == "connection_limit");
        Assert.True(cookiesSent.GetMeasurementSnapshot().Count >= 2);
        Assert.Contains(droppedDatagrams.GetMeasurementSnapshot(), m => (string?)m.Tags["reason"] == "not_client_hello");
        Assert.Contains(droppedDatagrams.GetMeasurementSnapshot(), m => (string?)m.Tags["reason"] == "filtered");
        Assert.Equal(5, receivedBytes.GetMeasurementSnapshot().Sum(m => m.Value));
        Assert.Equal(1, receivedRecords.GetMeasurementSnapshot().Sum(m => m.Value));
        Assert.Equal(5, sentBytes.GetMeasurementSnapshot().Sum(m => m.Value));
        Assert.Equal(1, sentRecords.GetMeasurementSnapshot().Sum(m => m.Value));
    }

    [Fact]
    public async Task A_failed_handshake_is_tagged_with_its_error_type()
    {
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output,
            o => o.HandshakeTimeout = TimeSpan.FromSeconds(1),
            configureServices: s => s.AddSingleton(_observer));
        using var handshakeDuration = new MetricCollector<double>(host.Services.GetRequiredService<IMeterFactory>(), DtlsMetrics.MeterName, "dtls.handshake.duration");

        await Assert.ThrowsAnyAsync<Exception>(() => TestDtlsClient.ConnectAsync(host.DtlsEndPoint, handshakeTimeoutMillis: 3_000, stopSendingAfter: 2));
        await Wait.UntilAsync(() => handshakeDuration.GetMeasurementSnapshot().Count == 1);
        Assert.Equal("timeout", handshakeDuration.GetMeasurementSnapshot().Single().Tags["error.type"]);
    }
}
