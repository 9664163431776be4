using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SukatDtls.Transport.Client;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>
/// HandshakeRetransmissionTimeout on each side: a lost flight is resent by the side that sent it when its own timer
/// says, and not before. Each test drops one flight through the proxy and gives the other side a timer so long (30 s)
/// that only the side under test can bring the handshake on; the handshake's duration then shows that side's timer.
/// </summary>
public sealed class RetransmissionTimeoutTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Configured = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(30);

    private readonly ConnectionObserver _observer = new();

    private static DtlsConnectionFactory Client(TimeSpan retransmission) => new(Options.Create(new DtlsClientOptions
    {
        TrustedCertificateAuthorities = TestClientCertificates.DevCa(),
        ServerName = "localhost",
        HandshakeRetransmissionTimeout = retransmission,
        HandshakeTimeout = TimeSpan.FromSeconds(40),
    }), NullLoggerFactory.Instance);

    [Fact]
    public async Task The_server_resends_its_lost_flight_when_its_configured_timeout_ends()
    {
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, o =>
        {
            o.HandshakeRetransmissionTimeout = Configured;
            o.HandshakeTimeout = TimeSpan.FromSeconds(40);
        }, configureServices: s => s.AddSingleton(_observer));
        await using var factory = Client(Long);
        await using var proxy = new ImpairmentProxy(host.DtlsEndPoint, seed: 31);
        proxy.Impair(Impairment.None, new Impairment { DropNumbers = new HashSet<long> { 2 } }); // ServerHello … ServerHelloDone

        var clock = Stopwatch.StartNew();
        await using var connection = await factory.ConnectAsync(proxy.EndPoint).AsTask().WaitAsync(TimeSpan.FromSeconds(20));
        output.WriteLine($"handshake with the server's second flight lost: {clock.ElapsedMilliseconds} ms");

        // Load can only make it later: not before the server's 3 s (its default of 1 s would have been too early).
        Assert.True(clock.Elapsed >= Configured - TimeSpan.FromMilliseconds(200), $"the server resent after {clock.ElapsedMilliseconds} ms");
        Assert.Equal(1, proxy.ServerToClient.Dropped);
        Assert.Equal("after the server's resend", await Lossy.EchoAsync(connection, "after the server's resend"));
    }

    [Fact]
    public async Task The_client_resends_its_lost_flight_when_its_configured_timeout_ends()
    {
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, o =>
        {
            o.HandshakeRetransmissionTimeout = Long;
            o.HandshakeTimeout = TimeSpan.FromSeconds(40);
        }, configureServices: s => s.AddSingleton(_observer));
        await using var factory = Client(Configured);
        await using var proxy = new ImpairmentProxy(host.DtlsEndPoint, seed: 32);
        proxy.Impair(new Impairment { DropNumbers = new HashSet<long> { 3 } }, Impairment.None); // Certificate … Finished

        var clock = Stopwatch.StartNew();
        await using var connection = await factory.ConnectAsync(proxy.EndPoint).AsTask().WaitAsync(TimeSpan.FromSeconds(20));
        output.WriteLine($"handshake with the client's second flight lost: {clock.ElapsedMilliseconds} ms");

        Assert.True(clock.Elapsed >= Configured - TimeSpan.FromMilliseconds(200), $"the client resent after {clock.ElapsedMilliseconds} ms");
        Assert.Equal(1, proxy.ClientToServer.Dropped);
        Assert.Equal("after the client's resend", await Lossy.EchoAsync(connection, "after the client's resend"));
    }
}
