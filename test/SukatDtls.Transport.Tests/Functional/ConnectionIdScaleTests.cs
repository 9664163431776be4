using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SukatDtls.Transport.Client;
using SukatDtls.Transport.Features;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>
/// Connection IDs (RFC 9146) at scale: a thousand sessions that each move once leave nothing behind. It counts the
/// process's file descriptors, so it runs alone (tests running beside it — those that start openssl, gnutls or libcoap
/// processes hold pipes and sockets — would be counted as its leaks).
/// </summary>
/// <remarks>
/// The echoes after the move go over UDP, a hundred at a time: a datagram may be lost (a full socket buffer when both
/// cores are busy; a CI run lost one of the thousand), so an echo is sent again when it does not come back
/// (<see cref="Lossy.EchoResendingAsync"/>), as a DTLS application would. Every session must still move and echo.
/// </remarks>
[Collection(ProcessWideMeasurements.Name)]
public sealed class ConnectionIdScaleTests(ITestOutputHelper output)
{
    private const int EchoesInFlight = 100;
    private const int EchoAttempts = 3;
    private static readonly TimeSpan EchoAttemptTimeout = TimeSpan.FromSeconds(3);

    private readonly ConnectionObserver _observer = new();

    private static DtlsConnectionFactory Client() => new(Options.Create(new DtlsClientOptions
    {
        TrustedCertificateAuthorities = TestClientCertificates.DevCa(),
        ServerName = "localhost",
        RequestConnectionId = true,
        MaxConcurrentHandshakes = 64,
    }), NullLoggerFactory.Instance);

    [Fact]
    public async Task A_thousand_sessions_each_moving_once_leave_no_stale_socket_table_entry_or_timer()
    {
        const int Sessions = 1_000;
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(null, o => o.MaxConcurrentHandshakes = Sessions,
            configureServices: s => s.AddSingleton(_observer));
        int descriptors = Directory.GetFiles("/proc/self/fd").Length;
        await using var relay = new LatencyRelay(host.DtlsEndPoint, TimeSpan.Zero);
        await using var factory = Client();
        var connections = new List<ConnectionContext>();
        for (int batch = 0; batch < Sessions / 50; batch++)
        {
            connections.AddRange(await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => factory.ConnectAsync(relay.EndPoint).AsTask())));
        }

        // What was lost on the way, for a failure's message: the kernel's drops at the server's, the relay's and the
        // clients' sockets (all open throughout), and what the listener dropped.
        var ports = connections.Select(c => ((IPEndPoint)c.LocalEndPoint!).Port).Append(host.DtlsEndPoint.Port).Append(relay.EndPoint.Port).ToHashSet();
        long kernelDrops = UdpDrops.ForPorts(ports);
        long listenerDrops = host.Listener.Statistics.DatagramsDropped;
        string Lost() => $"kernel dropped {UdpDrops.ForPorts(ports) - kernelDrops} (server, relay and client sockets), "
            + $"the listener {host.Listener.Statistics.DatagramsDropped - listenerDrops}; "
            + $"relay (whole test): {relay.DatagramsToServer} datagrams to the server, {relay.DatagramsToClients} to the clients";

        Assert.Equal(Sessions, relay.RebindAll());
        var sends = new int[Sessions];
        for (int first = 0; first < Sessions; first += EchoesInFlight)
        {
            await Task.WhenAll(Enumerable.Range(first, EchoesInFlight).Select(async i =>
            {
                string text = $"moved {i}";
                (string? echoed, sends[i]) = await Lossy.EchoResendingAsync(connections[i], text, EchoAttempts, EchoAttemptTimeout);
                if (echoed != text)
                {
                    Assert.Fail($"Session {i}: {(echoed is null ? "no echo" : $"echo '{echoed}'")} after {sends[i]} sends; {Lost()}");
                }
            }));
        }

        output.WriteLine($"{sends.Count(n => n > 1)} of {Sessions} echoes sent again ({sends.Sum() - Sessions} resends); {Lost()}");

        var moves = _observer.All.Sum(o => o.Connection.Features.Get<IDtlsMigrationFeature>()!.Migrations);
        Assert.Equal(Sessions, moves);
        Assert.Equal(Sessions, host.Listener.PeerCount);
        Assert.Equal(Sessions, host.Listener.ConnectionIdCount);

        foreach (var connection in connections)
        {
            await connection.DisposeAsync();
        }

        await Wait.UntilAsync(() => host.Listener.PeerCount == 0 && host.Listener.ConnectionIdCount == 0, 30_000);
        await relay.DisposeAsync();
        await factory.DisposeAsync();
        await Wait.UntilAsync(() => Directory.GetFiles("/proc/self/fd").Length <= descriptors + 8, 30_000);
    }
}
