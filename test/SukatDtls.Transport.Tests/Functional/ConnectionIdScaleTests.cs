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
[Collection(ProcessWideMeasurements.Name)]
public sealed class ConnectionIdScaleTests
{
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

        Assert.Equal(Sessions, relay.RebindAll());
        foreach (var chunk in connections.Chunk(100))
        {
            await Task.WhenAll(chunk.Select((c, i) => Lossy.EchoAsync(c, $"moved {i}")));
        }

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
