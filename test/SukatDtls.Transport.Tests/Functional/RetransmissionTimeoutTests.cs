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
    public Task The_server_resends_its_lost_flight_when_its_configured_timeout_ends() =>
        // The server's second flight (ServerHello … ServerHelloDone) is lost; only the server's timer brings it again.
        HandshakeWithOneFlightLostAsync(server: Configured, client: Long, seed: 31,
            clientToServer: Impairment.None, serverToClient: new Impairment { DropNumbers = new HashSet<long> { 2 } }, "the server");

    [Fact]
    public Task The_client_resends_its_lost_flight_when_its_configured_timeout_ends() =>
        // The client's second flight (Certificate … Finished) is lost; only the client's timer brings it again.
        HandshakeWithOneFlightLostAsync(server: Long, client: Configured, seed: 32,
            clientToServer: new Impairment { DropNumbers = new HashSet<long> { 3 } }, serverToClient: Impairment.None, "the client");

    private async Task HandshakeWithOneFlightLostAsync(TimeSpan server, TimeSpan client, int seed,
        Impairment clientToServer, Impairment serverToClient, string resender)
    {
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, o =>
        {
            o.HandshakeRetransmissionTimeout = server;
            o.HandshakeTimeout = TimeSpan.FromSeconds(40);
        }, configureServices: s => s.AddSingleton(_observer));
        await using var factory = Client(client);
        await using var proxy = new ImpairmentProxy(host.DtlsEndPoint, seed);
        proxy.Impair(clientToServer, serverToClient);

        var clock = Stopwatch.StartNew();
        await using var connection = await factory.ConnectAsync(proxy.EndPoint).AsTask().WaitAsync(TimeSpan.FromSeconds(20));
        output.WriteLine($"handshake with a flight of {resender} lost: {clock.ElapsedMilliseconds} ms");

        // Load can only make it later: not before the configured 3 s (the default of 1 s would have been too early).
        Assert.True(clock.Elapsed >= Configured - TimeSpan.FromMilliseconds(200), $"{resender} resent after {clock.ElapsedMilliseconds} ms");
        var lossy = clientToServer.DropNumbers.Count > 0 ? proxy.ClientToServer : proxy.ServerToClient;
        Assert.Equal(1, lossy.Dropped);
        Assert.Equal($"after {resender}'s resend", await Lossy.EchoAsync(connection, $"after {resender}'s resend"));
    }
}
