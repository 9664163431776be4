using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging.Abstractions;
using SukatDtls.Transport.Client;
using SukatDtls.Transport.Features;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Benchmarks;

/// <summary>'migration': what it costs the server when every session with a Connection ID moves to a new port.</summary>
internal static partial class Program
{
    /// <summary>
    /// The echo sample; <c>--migration-sessions</c> clients of our own (<see cref="DtlsConnectionFactory"/> with
    /// <see cref="DtlsClientOptions.RequestConnectionId"/>) through a <see cref="LatencyRelay"/> with no delay, which can
    /// send each client's datagrams on from a new port (a NAT that rebinds). After a warm-up (two echo rounds and one
    /// move), three measured rounds of one echo per session: staying put; after every session moved (each first record
    /// reaches the listening socket, is routed by its ID, authenticated, and moves the connection: a new socket bound and
    /// connected to the new address); and staying put again. The move's cost is the moved round's server CPU minus the
    /// first round's, per session.
    /// </summary>
    private static List<Figure> Migration(Tools t, Options o)
    {
        int n = o.MigrationSessions;
        var inv = CultureInfo.InvariantCulture;
        using var server = Server.Start(t, ours: true, "server.pem", "server.key");
        var relay = new LatencyRelay(new IPEndPoint(IPAddress.Loopback, server.Port), TimeSpan.Zero);
        using var factory = new DtlsConnectionFactory(Microsoft.Extensions.Options.Options.Create(new DtlsClientOptions
        {
            DangerousAcceptAnyServerCertificate = true,
            RequestConnectionId = true,
            MaxConcurrentHandshakes = 64,
            HandshakeTimeout = TimeSpan.FromSeconds(30),
        }), NullLoggerFactory.Instance);
        var connections = new List<ConnectionContext>(n);
        try
        {
            for (int i = 0; i < n; i += 32)
            {
                int batch = Math.Min(32, n - i);
                connections.AddRange(Task.WhenAll(Enumerable.Range(0, batch).Select(_ => factory.ConnectAsync(relay.EndPoint).AsTask()))
                    .GetAwaiter().GetResult());
            }

            var echoers = connections.Select(c => new Echoer(c)).ToList();
            Console.Error.WriteLine($"  migration: warm-up {MigrationRound(echoers, server, t).Describe()}");
            Console.Error.WriteLine($"  migration: warm-up {MigrationRound(echoers, server, t).Describe()}");
            relay.RebindAll();
            var warmMove = MigrationRound(echoers, server, t);
            Console.Error.WriteLine($"  migration: {n} sessions; warm-up move: {warmMove.Describe()}");

            var still = MigrationRound(echoers, server, t);
            int moved = relay.RebindAll();
            var moving = MigrationRound(echoers, server, t);
            var after = MigrationRound(echoers, server, t);
            Console.Error.WriteLine($"  migration: staying {still.Describe()}; {moved} moved {moving.Describe()}; staying again {after.Describe()}");
            double perMove = (moving.ServerCpuSeconds - still.ServerCpuSeconds) * 1e6 / n;
            return
            [
                new Figure("migration", "migration_sessions", "count", n, null, false),
                new Figure("migration", "migration_echo_failed", "count", still.Failed + moving.Failed + after.Failed, null, true),
                new Figure("migration", "migration_round_ms_still", "ms", Math.Round(still.Seconds * 1000), null, true),
                new Figure("migration", "migration_round_ms_moving", "ms", Math.Round(moving.Seconds * 1000), null, true),
                new Figure("migration", "migration_server_cpu_us_per_echo_still", "µs CPU", Math.Round(still.ServerCpuSeconds * 1e6 / n), null, true),
                new Figure("migration", "migration_server_cpu_us_per_echo_moving", "µs CPU", Math.Round(moving.ServerCpuSeconds * 1e6 / n), null, true),
                new Figure("migration", "migration_server_cpu_us_per_echo_after", "µs CPU", Math.Round(after.ServerCpuSeconds * 1e6 / n), null, true),
                new Figure("migration", "migration_server_cpu_us_per_move", "µs CPU", Math.Round(perMove), null, true),
            ];
        }
        finally
        {
            foreach (var connection in connections)
            {
                connection.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }

            relay.DisposeAsync().AsTask().GetAwaiter().GetResult();
            Console.Error.WriteLine(string.Create(inv, $"  migration: done"));
        }
    }

    private sealed record MigrationRoundResult(double Seconds, double ServerCpuSeconds, int Failed, string Server)
    {
        public string Describe() => string.Create(CultureInfo.InvariantCulture,
            $"{Seconds * 1000:F0} ms, server CPU {ServerCpuSeconds * 1000:F0} ms, {Failed} echoes failed ({Server})");
    }

    /// <summary>
    /// Every connection echoes one record, 32 at a time (a burst of a thousand datagrams overflows socket buffers on
    /// loopback, and the datagram view does not resend); the server's CPU is read from /proc before and after.
    /// </summary>
    private static MigrationRoundResult MigrationRound(List<Echoer> connections, Server server, Tools t)
    {
        using var gate = new SemaphoreSlim(32);
        var status0 = ReadStatus(server);
        long cpu0 = ProcCpuTicks(server.Pid);
        var clock = Stopwatch.StartNew();
        var results = Task.WhenAll(connections.Select(async connection =>
        {
            await gate.WaitAsync().ConfigureAwait(false);
            try
            {
                return await connection.EchoOnceAsync().ConfigureAwait(false);
            }
            finally
            {
                gate.Release();
            }
        })).GetAwaiter().GetResult();
        double seconds = clock.Elapsed.TotalSeconds;
        double cpu = (ProcCpuTicks(server.Pid) - cpu0) / (double)t.ClkTck;
        var status = ReadStatus(server);
        var delta = new Dictionary<string, double>(StringComparer.Ordinal);
        Subtract(status0, status, delta);
        string Value(Dictionary<string, double>? d, string key) => d is not null && d.TryGetValue(key, out double v) ? v.ToString("F0", CultureInfo.InvariantCulture) : "?";
        return new MigrationRoundResult(seconds, cpu, results.Count(ok => !ok),
            $"server: {Value(status, "activeConnections")} connections, {Value(delta, "receivedRecords")} records received, {Value(delta, "droppedDatagrams")} datagrams dropped");
    }

    /// <summary>A connection and its receive in progress: a receive that saw no echo in time goes on into the next round.</summary>
    private sealed class Echoer(ConnectionContext connection)
    {
        private readonly IDtlsDatagramFeature _datagrams = connection.Features.Get<IDtlsDatagramFeature>()!;
        private readonly byte[] _buffer = new byte[connection.Features.Get<IDtlsDatagramFeature>()!.MaxReceiveRecordSize];
        private Task<int>? _pending;

        public ConnectionContext Connection { get; } = connection;

        // The echo sample echoes a stream: a record sent again may come back joined to the first ("movingmoving").
        private static bool IsEcho(ReadOnlySpan<byte> data)
        {
            if (data.Length == 0 || data.Length % 6 != 0)
            {
                return false;
            }

            for (int i = 0; i < data.Length; i += 6)
            {
                if (!data.Slice(i, 6).SequenceEqual("moving"u8))
                {
                    return false;
                }
            }

            return true;
        }

        /// <summary>One record there and back; sent again (at most twice more) when no echo came within a second, as UDP may lose it.</summary>
        public async Task<bool> EchoOnceAsync()
        {
            for (int attempt = 0; attempt < 3; attempt++)
            {
                try
                {
                    await _datagrams.SendAsync("moving"u8.ToArray()).ConfigureAwait(false);
                    _pending ??= _datagrams.ReceiveAsync(_buffer).AsTask();
                    int length = await _pending.WaitAsync(TimeSpan.FromSeconds(1)).ConfigureAwait(false);
                    _pending = null;
                    return IsEcho(_buffer.AsSpan(0, length));
                }
                catch (TimeoutException)
                {
                    // The receive goes on; the record is sent again.
                }
                catch (Exception ex) when (ex is IOException or ConnectionAbortedException or InvalidOperationException)
                {
                    _pending = null;
                    return false;
                }
            }

            return false;
        }
    }
}
