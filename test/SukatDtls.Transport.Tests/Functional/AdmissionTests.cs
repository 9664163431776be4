using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>
/// The admission promises of the options documentation: what counts against <c>MaxConnections</c>, when the per-address
/// rate is spent, a full handshake capacity, and how each refusal shows (metric, log event at most once a second).
/// </summary>
public sealed class AdmissionTests : IDisposable
{
    private readonly FakeLoggerProvider _logs = new();
    private readonly ILoggerFactory _loggers;
    private readonly TestMeterFactory _meters = new();
    private readonly MetricCollector<long> _refused;

    public AdmissionTests()
    {
        _loggers = LoggerFactory.Create(b => b.AddProvider(_logs).SetMinimumLevel(LogLevel.Trace));
        _refused = new MetricCollector<long>(_meters, DtlsMetrics.MeterName, "dtls.refused_peers");
    }

    public void Dispose()
    {
        _refused.Dispose();
        _meters.Dispose();
        _loggers.Dispose();
        _logs.Dispose();
    }

    private async Task<DtlsConnectionListener> BindAsync(Action<DtlsTransportOptions> configure, TimeProvider? time = null)
    {
        var options = new DtlsTransportOptions { ServerCertificate = TestCertificates.EcdsaServer() };
        configure(options);
        var factory = new DtlsTransportFactory(Options.Create(options), _loggers, time, _meters);
        return (DtlsConnectionListener)await factory.BindAsync(new DtlsEndPoint(IPAddress.Loopback, 0));
    }

    private static IPEndPoint EndPointOf(DtlsConnectionListener listener) => ((DtlsEndPoint)listener.EndPoint).IPEndPoint;

    private int Refusals(string reason) => _refused.GetMeasurementSnapshot().Where(m => (string?)m.Tags["reason"] == reason).Sum(m => (int)m.Value);

    private List<FakeLogRecord> Logged(int eventId) => _logs.Collector.GetSnapshot().Where(r => r.Id.Id == eventId).ToList();

    [Fact]
    public async Task MaxConnections_counts_a_peer_that_is_still_in_its_handshake()
    {
        await using var listener = await BindAsync(o => { o.MaxConnections = 1; o.HandshakeTimeout = TimeSpan.FromSeconds(20); });
        var server = EndPointOf(listener);

        // One peer passed the cookie exchange and went silent: its handshake holds a socket, not yet a connection.
        using var inHandshake = await SilentPeer.PassCookieAsync(server, IPAddress.Loopback);
        await Wait.UntilAsync(() => listener.Statistics.HandshakesStarted == 1);
        Assert.Equal(1, listener.PeerCount);

        // The next verified peer is over the limit: no socket, no answer; counted, metered and logged.
        using var second = await SilentPeer.PassCookieAsync(server, IPAddress.Loopback);
        await Wait.UntilAsync(() => listener.Statistics.RefusedByConnectionLimit == 1);
        Assert.Equal(1, listener.Statistics.PeerSocketsCreated);
        Assert.Equal(1, listener.Statistics.HandshakesStarted);
        Assert.Equal(1, Refusals("connection_limit"));
        var logged = Assert.Single(Logged(14));
        Assert.Equal(LogLevel.Warning, logged.Level);
    }

    [Fact]
    public async Task The_per_address_rate_is_spent_after_the_cookie_so_cookieless_ClientHellos_cost_no_budget()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var listener = await BindAsync(o => o.MaxHandshakesPerSecondPerAddress = 1, time);
        var server = EndPointOf(listener);

        // Twenty ClientHellos without a cookie from this address (a spoofer could send them in its name): each gets a
        // HelloVerifyRequest, and none spends the address's one handshake of this (fake, frozen) second.
        using (var spoofer = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            spoofer.Connect(server);
            var buffer = new byte[2048];
            for (int i = 0; i < 20; i++)
            {
                spoofer.Send(DtlsRecords.ClientHello);
                int length = await spoofer.ReceiveAsync(buffer, SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(5));
                Assert.True(DtlsRecords.TryReadHelloVerifyRequest(buffer.AsSpan(0, length), out _));
            }
        }

        Assert.Equal(0, listener.Statistics.RefusedByRateLimit);
        using var first = await TestDtlsClient.ConnectAsync(server);

        // The second handshake of the second is refused (metered, logged) until the next second.
        var second = TestDtlsClient.ConnectAsync(server, handshakeTimeoutMillis: 10_000);
        await Wait.UntilAsync(() => listener.Statistics.RefusedByRateLimit >= 1);
        Assert.Equal(1, listener.Statistics.PeerSocketsCreated);
        Assert.True(Refusals("rate_limit") >= 1);
        Assert.Equal(LogLevel.Warning, Assert.Single(Logged(15)).Level);

        time.Advance(TimeSpan.FromSeconds(1));
        using var admitted = await second.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(2, listener.Statistics.PeerSocketsCreated);
    }

    [Fact]
    public async Task A_full_handshake_capacity_refuses_with_its_metric_and_logs_at_most_once_a_second()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);

        // One place, taken by a silent peer that cannot be evicted: it has not waited the retransmission timeout
        // (60 s, on a frozen clock), and the newcomers come from its own network. HandshakeQueueLength is no longer
        // used (options.md): nothing queues; a verified peer beyond the capacity gets no answer.
        await using var listener = await BindAsync(o =>
        {
            o.MaxConcurrentHandshakes = 1;
            o.HandshakeQueueLength = 256;
            o.HandshakeTimeout = TimeSpan.FromSeconds(30);
            o.HandshakeRetransmissionTimeout = TimeSpan.FromSeconds(60);
        }, time);
        var server = EndPointOf(listener);
        var sockets = new List<Socket>();
        try
        {
            sockets.Add(await SilentPeer.PassCookieAsync(server, IPAddress.Loopback));
            await Wait.UntilAsync(() => listener.Handshakes.WaitingForPeer == 1);

            // Two refusals in the same second: both metered, one logged.
            for (int i = 1; i <= 2; i++)
            {
                sockets.Add(await SilentPeer.PassCookieAsync(server, IPAddress.Loopback));
                int expected = i;
                // The statistic is counted before the metric is recorded: wait for both.
                await Wait.UntilAsync(() => listener.Statistics.HandshakesRefused == expected && Refusals("handshake_capacity") == expected);
            }

            Assert.Equal(2, Refusals("handshake_capacity"));
            var logged = Assert.Single(Logged(8));
            Assert.Equal(LogLevel.Warning, logged.Level);

            // A second later, the next refusal is logged again.
            time.Advance(TimeSpan.FromSeconds(1));
            sockets.Add(await SilentPeer.PassCookieAsync(server, IPAddress.Loopback));
            await Wait.UntilAsync(() => listener.Statistics.HandshakesRefused == 3 && Refusals("handshake_capacity") == 3);
            Assert.Equal(3, Refusals("handshake_capacity"));
            Assert.Equal(2, Logged(8).Count);
            Assert.Equal(1, listener.Statistics.PeerSocketsCreated);
            Assert.Equal(0, listener.Statistics.HandshakesEvicted);
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }
    }

    [Fact]
    public async Task The_port_in_use_check_covers_a_dual_stack_listener_against_an_IPv4_socket_that_shares_ports()
    {
        // Another server (same user) on 0.0.0.0 with SO_REUSEPORT: a reuse-enabled bind of [::] would share its IPv4
        // port silently; the probe bind (dual-stack, no reuse) makes it AddressInUseException, as the docs say.
        using var other = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        other.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        other.Bind(new IPEndPoint(IPAddress.Any, 0));
        int port = ((IPEndPoint)other.LocalEndPoint!).Port;

        var options = new DtlsTransportOptions { ServerCertificate = TestCertificates.EcdsaServer() };
        var factory = new DtlsTransportFactory(Options.Create(options), _loggers);
        var error = await Assert.ThrowsAsync<AddressInUseException>(() => factory.BindAsync(new DtlsEndPoint(IPAddress.IPv6Any, port)).AsTask());
        Assert.Contains(port.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);

        // And the same on [::] itself, against another dual-stack server.
        using var otherV6 = new Socket(AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp) { DualMode = true };
        otherV6.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        otherV6.Bind(new IPEndPoint(IPAddress.IPv6Any, 0));
        int portV6 = ((IPEndPoint)otherV6.LocalEndPoint!).Port;
        await Assert.ThrowsAsync<AddressInUseException>(() => factory.BindAsync(new DtlsEndPoint(IPAddress.IPv6Any, portV6)).AsTask());
    }
}
