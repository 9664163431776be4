using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.Logging.Abstractions;
using SukatDtls.Transport.Client;
using SukatDtls.Transport.Features;

namespace SukatDtls.Transport.Benchmarks;

/// <summary>'restart-storm': clients hold sessions, the server restarts, and all reconnect at once offering them.</summary>
internal static partial class Program
{
    /// <summary>The session-encryption key of the benchmark's servers (a benchmark's, not a secret).</summary>
    private const string StormEncryptionKey = "62656e63686d61726b2d6f6e6c792d6b65792d726573746172742d73746f726d";

    /// <summary>
    /// For each store (memory, then Redis): the echo sample on a fixed port; <c>--storm-clients</c> clients of our own
    /// (<see cref="DtlsConnectionFactory"/>, which keeps sessions across connections) make full handshakes, 32 at a
    /// time, and keep their sessions; one round of resumptions at once warms the server up, a second is measured with the
    /// server still up ("warm"); then the server is killed and started again on the same port, and all clients reconnect
    /// at once offering their sessions ("storm"): time until every client has had its echo, the new server's CPU, the
    /// share resumed. With memory, the restarted server knows no session (all full handshakes); with Redis, it finds them
    /// all. Last, the cost of one Redis lookup: the warm rounds' CPU per resumption, Redis minus memory, and the latency
    /// of a lookup through the same <see cref="IDistributedCache"/> (RedisCache) from this process.
    /// </summary>
    private static List<Figure> RestartStorm(Tools t, Options o)
    {
        string redisServer = FindOnPath("redis-server")
            ?? throw new InvalidOperationException("'restart-storm' needs redis-server (apt-get install redis-server).");
        var figs = new List<Figure>();
        var warmCpu = new Dictionary<string, double>();
        var inv = CultureInfo.InvariantCulture;
        int n = o.StormClients;
        foreach (string store in new[] { "memory", "redis" })
        {
            using var redis = store == "redis" ? RedisProcess.Start(redisServer) : null;
            var settings = new Dictionary<string, string>();
            if (redis is not null)
            {
                settings["ConnectionStrings__Redis"] = $"127.0.0.1:{redis.Port},abortConnect=false";
                settings["SessionStore__EncryptionKey"] = StormEncryptionKey;
                if (o.StormLookupTimeoutMs is int timeoutMs)
                {
                    settings["SessionStore__OperationTimeout"] = TimeSpan.FromMilliseconds(timeoutMs).ToString("c", inv);
                }
            }

            int port = Server.FreeUdpPort();
            var endPoint = new IPEndPoint(IPAddress.Loopback, port);
            using var client = new DtlsConnectionFactory(Microsoft.Extensions.Options.Options.Create(new DtlsClientOptions
            {
                DangerousAcceptAnyServerCertificate = true,
                MaxConcurrentHandshakes = n,
                HandshakeTimeout = TimeSpan.FromSeconds(30),
            }), NullLoggerFactory.Instance);

            DtlsResumableSession[] sessions;
            StormRound warm;
            using (var first = Server.Start(t, ours: true, "server.pem", "server.key", settings, port))
            {
                var primed = Round(client, endPoint, new DtlsResumableSession?[n], first, t, concurrency: 32);
                sessions = primed.Sessions.Where(s => s is not null).Select(s => s!).ToArray();
                Console.Error.WriteLine($"  restart-storm {store}: primed {sessions.Length}/{n} sessions with full handshakes in {primed.Seconds.ToString("F2", inv)} s");
                redis?.WaitForKeys(sessions.Length, TimeSpan.FromSeconds(30));
                // A client keeps the newest session it has: the same after a resumption, a new one after a full handshake
                // (BouncyCastle's client does not offer a session that the server declined once).
                var warmUp = Round(client, endPoint, sessions, first, t);
                Console.Error.WriteLine($"  restart-storm {store}: warm-up round {warmUp.Describe()}");
                sessions = Newest(sessions, warmUp);
                warm = Round(client, endPoint, sessions, first, t);
                sessions = Newest(sessions, warm);
                Console.Error.WriteLine($"  restart-storm {store}: warm round (server up) {warm.Describe()}");
            }

            using var second = Server.Start(t, ours: true, "server.pem", "server.key", settings, port);
            var storm = Round(client, endPoint, sessions, second, t);
            Console.Error.WriteLine($"  restart-storm {store}: storm after the restart {storm.Describe()}");
            if (storm.Lookups.Split('/')[^1] is not ("0" or "?"))
            {
                Console.Error.WriteLine($"  restart-storm {store}: the server's last lines: {second.ExitDescription()}");
            }
            warmCpu[store] = warm.ServerCpuSeconds / Math.Max(1, warm.Resumed);
            string p = $"storm_{store}";
            figs.Add(new Figure("restart-storm", p + "_all_served_ms", "ms", Math.Round(storm.Seconds * 1000), null, true));
            figs.Add(new Figure("restart-storm", p + "_server_cpu_ms", "ms CPU", Math.Round(storm.ServerCpuSeconds * 1000), null, true));
            figs.Add(new Figure("restart-storm", p + "_server_cpu_us_per_client", "µs CPU", Math.Round(storm.ServerCpuSeconds * 1e6 / sessions.Length), null, true));
            figs.Add(new Figure("restart-storm", p + "_resumed_pct", "%", Math.Round(100.0 * storm.Resumed / sessions.Length, 1), null, false));
            figs.Add(new Figure("restart-storm", p + "_failed", "count", storm.Failed, null, true));
            figs.Add(new Figure("restart-storm", $"warm_{store}_all_served_ms", "ms", Math.Round(warm.Seconds * 1000), null, true));
            figs.Add(new Figure("restart-storm", $"warm_{store}_server_cpu_us_per_resumption", "µs CPU", Math.Round(warmCpu[store] * 1e6), null, true));
            figs.Add(new Figure("restart-storm", $"warm_{store}_resumed_pct", "%", Math.Round(100.0 * warm.Resumed / sessions.Length, 1), null, false));
        }

        figs.Add(new Figure("restart-storm", "redis_lookup_server_cpu_us_per_resumption", "µs CPU",
            Math.Round((warmCpu["redis"] - warmCpu["memory"]) * 1e6), null, true));
        using (var redis = RedisProcess.Start(redisServer))
        {
            var (p50, p99, cpu) = RedisLookupCost(redis.Port);
            Console.Error.WriteLine($"  restart-storm: one RedisCache lookup of a stored session: p50 {p50.ToString("F0", inv)} µs, p99 {p99.ToString("F0", inv)} µs, at most {cpu.ToString("F0", inv)} µs CPU in the caller");
            figs.Add(new Figure("restart-storm", "redis_lookup_p50_us", "µs", Math.Round(p50), null, true));
            figs.Add(new Figure("restart-storm", "redis_lookup_p99_us", "µs", Math.Round(p99), null, true));
            figs.Add(new Figure("restart-storm", "redis_lookup_caller_cpu_us", "µs CPU", Math.Round(cpu), null, true));
        }

        return figs;
    }

    private static DtlsResumableSession[] Newest(DtlsResumableSession[] sessions, StormRound round) =>
        sessions.Select((session, i) => round.Sessions[i] ?? session).ToArray();

    /// <summary>What one round of connections cost and gave.</summary>
    /// <param name="Lookups">The server's session lookups during the round (status page): hit/miss/error.</param>
    private sealed record StormRound(double Seconds, double ServerCpuSeconds, int Resumed, int Failed, DtlsResumableSession?[] Sessions, string Lookups)
    {
        public string Describe() => string.Create(CultureInfo.InvariantCulture,
            $"{Sessions.Length - Failed}/{Sessions.Length} served in {Seconds * 1000:F0} ms, {Resumed} resumed, {Failed} failed, server CPU {ServerCpuSeconds * 1000:F0} ms, lookups hit/miss/error {Lookups}");
    }

    /// <summary>
    /// Every client connects (offering its session, when it has one), echoes one record and closes; all at once, or
    /// <paramref name="concurrency"/> at a time. The server's CPU is read from /proc before and after.
    /// </summary>
    private static StormRound Round(DtlsConnectionFactory client, IPEndPoint endPoint, DtlsResumableSession?[] sessions, Server server, Tools t,
        int concurrency = int.MaxValue)
    {
        using var gate = new SemaphoreSlim(Math.Min(concurrency, sessions.Length));
        var status0 = ReadStatus(server);
        long cpu0 = ProcCpuTicks(server.Pid);
        var clock = Stopwatch.StartNew();
        var results = Task.WhenAll(sessions.Select(async session =>
        {
            await gate.WaitAsync().ConfigureAwait(false);
            try
            {
                return await ConnectEchoAsync(client, endPoint, session).ConfigureAwait(false);
            }
            finally
            {
                gate.Release();
            }
        })).GetAwaiter().GetResult();
        double seconds = clock.Elapsed.TotalSeconds;
        double cpu = (ProcCpuTicks(server.Pid) - cpu0) / (double)t.ClkTck;
        var lookups = new Dictionary<string, double>(StringComparer.Ordinal);
        Subtract(status0, ReadStatus(server), lookups);
        string Lookup(string key) => lookups.TryGetValue(key, out double v) ? v.ToString("F0", CultureInfo.InvariantCulture) : "?";
        return new StormRound(seconds, cpu, results.Count(r => r.Resumed), results.Count(r => !r.Ok), results.Select(r => r.Session).ToArray(),
            $"{Lookup("sessionLookupsHit")}/{Lookup("sessionLookupsMiss")}/{Lookup("sessionLookupsError")}");
    }

    private static async Task<(bool Ok, bool Resumed, DtlsResumableSession? Session)> ConnectEchoAsync(DtlsConnectionFactory client, IPEndPoint endPoint,
        DtlsResumableSession? session)
    {
        try
        {
            await using var connection = await client.ConnectAsync(endPoint, session).ConfigureAwait(false);
            var datagrams = connection.Features.Get<IDtlsDatagramFeature>()!;
            await datagrams.SendAsync("storm"u8.ToArray()).ConfigureAwait(false);
            var buffer = new byte[datagrams.MaxReceiveRecordSize];
            await datagrams.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            var feature = connection.Features.Get<IDtlsSessionFeature>()!;
            return (true, feature.IsResumed, feature.ResumableSession);
        }
        catch (Exception ex) when (ex is TimeoutException or IOException or SocketException or OperationCanceledException
            or Microsoft.AspNetCore.Connections.ConnectionAbortedException or InvalidOperationException)
        {
            return (false, false, session);
        }
    }

    /// <summary>
    /// One lookup of a stored session (a 350-byte value, what a session with an ECDSA peer chain takes), through
    /// RedisCache as the server does it, one after another (awaited, as the server's lookups are) after 500 unmeasured
    /// ones: wall-clock p50/p99 and this process's CPU per lookup. The CPU is an upper bound: it counts every thread of
    /// the process, the thread pool's spinning between lookups included; redis-server's own is not counted.
    /// </summary>
    private static (double P50, double P99, double CpuMicroseconds) RedisLookupCost(int port) => RedisLookupCostAsync(port).GetAwaiter().GetResult();

    private static async Task<(double P50, double P99, double CpuMicroseconds)> RedisLookupCostAsync(int port)
    {
        using var cache = new RedisCache(Microsoft.Extensions.Options.Options.Create(new RedisCacheOptions { Configuration = $"127.0.0.1:{port}" }));
        await cache.SetAsync("dtls-session:lookup-cost", new byte[350], new DistributedCacheEntryOptions()).ConfigureAwait(false);
        const int warm = 500, measured = 5000;
        for (int i = 0; i < warm; i++)
        {
            await cache.GetAsync("dtls-session:lookup-cost").ConfigureAwait(false);
        }

        var times = new List<double>(measured);
        long cpu0 = ProcCpuTicks(Environment.ProcessId);
        for (int i = 0; i < measured; i++)
        {
            long start = Stopwatch.GetTimestamp();
            await cache.GetAsync("dtls-session:lookup-cost").ConfigureAwait(false);
            times.Add(Stopwatch.GetElapsedTime(start).TotalMicroseconds);
        }

        double cpu = (ProcCpuTicks(Environment.ProcessId) - cpu0) / (double)ClockTicks() * 1e6 / measured;
        return (Pct(times, 50), Pct(times, 99), cpu);
    }

    private static string? FindOnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);

    /// <summary>A redis-server of the benchmark's own on a free loopback port, no persistence; killed on dispose.</summary>
    private sealed class RedisProcess : IDisposable
    {
        private readonly Process _process;

        private RedisProcess(Process process, int port)
        {
            _process = process;
            Port = port;
        }

        public int Port { get; }

        public static RedisProcess Start(string path)
        {
            int port;
            using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
            {
                probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                port = ((IPEndPoint)probe.LocalEndPoint!).Port;
            }

            var psi = new ProcessStartInfo(path) { RedirectStandardOutput = true, UseShellExecute = false };
            foreach (string a in new[] { "--port", port.ToString(Inv), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no" })
            {
                psi.ArgumentList.Add(a);
            }

            var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start redis-server");
            var ready = Task.Run(() =>
            {
                while (process.StandardOutput.ReadLine() is string line)
                {
                    if (line.Contains("Ready to accept connections", StringComparison.Ordinal))
                    {
                        return true;
                    }
                }

                return false;
            });
            if (!ready.Wait(TimeSpan.FromSeconds(10)) || !ready.Result)
            {
                process.Kill();
                process.Dispose();
                throw new InvalidOperationException($"redis-server did not get ready on port {port}");
            }

            // Keep draining its output.
            _ = Task.Run(() =>
            {
                while (process.StandardOutput.ReadLine() is not null)
                {
                }
            });
            return new RedisProcess(process, port);
        }

        /// <summary>Waits (bounded) until Redis holds at least <paramref name="count"/> keys: sessions are written after the handshake.</summary>
        public void WaitForKeys(int count, TimeSpan timeout)
        {
            using var connection = StackExchange.Redis.ConnectionMultiplexer.Connect($"127.0.0.1:{Port}");
            var server = connection.GetServer("127.0.0.1", Port);
            var deadline = DateTime.UtcNow + timeout;
            long keys;
            while ((keys = server.DatabaseSize()) < count)
            {
                if (DateTime.UtcNow > deadline)
                {
                    Console.Error.WriteLine($"  restart-storm: only {keys} of {count} sessions in Redis after {timeout.TotalSeconds:F0} s");
                    return;
                }

                Thread.Sleep(20);
            }
        }

        public void Dispose()
        {
            try
            {
                if (!_process.HasExited)
                {
                    _process.Kill();
                    _process.WaitForExit(5000);
                }
            }
            catch (InvalidOperationException)
            {
            }

            _process.Dispose();
        }
    }
}
