using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace SukatDtls.Transport.Benchmarks;

/// <summary>The scenarios: handshake, echo, idle sessions, HTTP under a handshake burst.</summary>
internal static partial class Program
{
    private static List<Figure> Handshake(Tools t, Options o)
    {
        var figs = new List<Figure>();
        var variants = new List<(string Name, string Cert, string Key, bool Resume, int N)>
        {
            ("ecdsa", "server.pem", "server.key", false, o.Handshakes),
            ("ecdsa_resumed", "server.pem", "server.key", true, o.Handshakes),
        };
        if (!o.NoRsa)
        {
            variants.Add(("rsa", "server-rsa.pem", "server-rsa.key", false, Math.Max(100, o.Handshakes / 4)));
        }

        foreach (var v in variants)
        {
            var m = new Dictionary<bool, LoadRun>();
            foreach (bool ours in Alternate(o))
            {
                using var server = Server.Start(t, ours, v.Cert, v.Key);
                WarmUp(t, server, o, $"-n {(v.Name == "rsa" ? 100 : 500)} -c {o.Concurrency}" + (v.Resume ? " -r" : ""));
                m[ours] = Measure(t, server, $"-n {v.N} -c {o.Concurrency}" + (v.Resume ? " -r" : ""), 300);
            }

            string p = "hs_" + v.Name;
            figs.Add(Fig("handshake", p + "_per_s", "1/s", m, r => r.Kv("hs_per_s"), lower: false));
            figs.Add(Fig("handshake", p + "_cpu_us", "µs CPU", m, r => r.CpuSeconds * 1e6 / r.Kv("ok"), lower: true));
            figs.Add(Fig("handshake", p + "_p50_us", "µs", m, r => r.Kv("hs_p50_us"), lower: true));
            figs.Add(Fig("handshake", p + "_p99_us", "µs", m, r => r.Kv("hs_p99_us"), lower: true));
        }

        return figs;
    }

    private static List<Figure> Echo(Tools t, Options o)
    {
        var m = new Dictionary<bool, LoadRun>();
        string args = $"-n {o.EchoConnections} -c {o.EchoConnections} -m {o.EchoMessages} -s {o.EchoSize}";
        foreach (bool ours in Alternate(o))
        {
            using var server = Server.Start(t, ours, "server.pem", "server.key");
            WarmUp(t, server, o, $"-n {o.EchoConnections} -c {o.EchoConnections} -m 2000 -s {o.EchoSize}");
            m[ours] = Measure(t, server, args, 600);
        }

        // dtls_load counts echoed messages; each is one record each way. CPU per record = per echoed record (in + out).
        return
        [
            Fig("echo", "echo_records_per_s", "1/s", m, r => r.Kv("msgs_per_s"), lower: false),
            Fig("echo", "echo_mbytes_per_s", "MB/s", m, r => r.Kv("mbytes_per_s"), lower: false),
            Fig("echo", "echo_cpu_us_per_record", "µs CPU", m, r => r.CpuSeconds * 1e6 / (r.Kv("msgs_per_s") * r.Kv("secs")), lower: true),
            Fig("echo", "echo_rtt_p50_us", "µs", m, r => r.Kv("rtt_p50_us"), lower: true),
            Fig("echo", "echo_rtt_p99_us", "µs", m, r => r.Kv("rtt_p99_us"), lower: true),
        ];
    }

    private static List<Figure> Sessions(Tools t, Options o)
    {
        var res = new Dictionary<bool, (double Threads0, double Threads, double Rss0Kb, double RssKb, double Ok)>();
        foreach (bool ours in Alternate(o))
        {
            using var server = Server.Start(t, ours, "server.pem", "server.key");
            Load(t, server, "-n 200 -c 8", 120); // warm-up so the baseline includes JIT'd code and pools
            GcSettle();
            var (threads0, rss0) = ProcStatus(server.Pid);
            double maxRss = rss0;
            var samples = new List<double>();
            var run = StartLoad(t, server, $"-n {o.Sessions} -c {o.Sessions} -m 1 -s 32 -k {o.KeepSeconds} -t 20000");
            while (!run.Process.HasExited)
            {
                var (th, rss) = ProcStatus(server.Pid);
                samples.Add(th);
                maxRss = Math.Max(maxRss, rss);
                Thread.Sleep(200);
            }

            // Threads while the sessions sit idle: the median of the second half of the run (the handshakes are over by then).
            double maxThreads = samples.Count == 0 ? threads0 : samples.Skip(samples.Count / 2).Order().ElementAt((samples.Count - (samples.Count / 2)) / 2);

            var lr = FinishLoad(run, "sessions");
            double ok = lr.Kv("ok");
            res[ours] = (threads0, maxThreads, rss0, maxRss, ok);
            Console.Error.WriteLine($"  sessions {(ours ? "ours" : "ref")}: ok={ok} fail={lr.Kv("fail")} threads {threads0}->{maxThreads} rss {rss0}->{maxRss} KB");
        }

        var d = res.ToDictionary(kv => kv.Key, kv => kv.Value);
        return
        [
            Fig2("sessions", "sessions_held", "count", d, r => r.Ok, lower: false),
            Fig2("sessions", "sessions_threads_idle", "threads", d, r => r.Threads0, lower: true),
            Fig2("sessions", "sessions_threads_held", "threads", d, r => r.Threads, lower: true),
            Fig2("sessions", "sessions_rss_mb", "MB", d, r => r.RssKb / 1024, lower: true),
            Fig2("sessions", "sessions_rss_kb_per_session", "KB", d, r => (r.RssKb - r.Rss0Kb) / Math.Max(1, r.Ok), lower: true),
        ];
    }

    private static List<Figure> Contention(Tools t, Options o)
    {
        using var server = Server.Start(t, ours: true, "server.pem", "server.key");
        Load(t, server, "-n 200 -c 8", 120);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        Uri status = new(server.StatusUrl!, "status");
        http.GetStringAsync(status).GetAwaiter().GetResult();

        int errors = 0;
        List<double> Probe(Func<bool> running)
        {
            var lat = new List<double>();
            while (running())
            {
                var sw = Stopwatch.StartNew();
                try
                {
                    http.GetStringAsync(status).GetAwaiter().GetResult();
                    lat.Add(sw.Elapsed.TotalMilliseconds);
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    errors++;
                    if (server.HasExited)
                    {
                        break;
                    }
                }

                Thread.Sleep(20);
            }

            return lat;
        }

        var quietEnd = DateTime.UtcNow.AddSeconds(3);
        var quiet = Probe(() => DateTime.UtcNow < quietEnd);
        var cpu0 = ProcCpuTicks(server.Pid);
        var run = StartLoad(t, server, $"-n {o.ContentionHandshakes} -c {o.ContentionInFlight} -t 20000");
        var busy = Probe(() => !run.Process.HasExited);
        var lr = FinishLoad(run, "contention");
        if (server.HasExited)
        {
            Console.Error.WriteLine($"  contention: the echo sample EXITED during the run: {server.ExitDescription()}");
            return [new Figure("contention", "server_exited", "bool", 1, null, true), new Figure("contention", "http_errors", "count", errors, null, true)];
        }

        Console.Error.WriteLine($"  contention: {lr.Raw} probes={busy.Count} errors={errors} cpu={(ProcCpuTicks(server.Pid) - cpu0) / (double)t.ClkTck:F1}s");
        return
        [
            new Figure("contention", "http_p50_ms_idle", "ms", Pct(quiet, 50), null, true),
            new Figure("contention", "http_p99_ms_idle", "ms", Pct(quiet, 99), null, true),
            new Figure("contention", "http_p50_ms_busy", "ms", Pct(busy, 50), null, true),
            new Figure("contention", "http_p99_ms_busy", "ms", Pct(busy, 99), null, true),
            new Figure("contention", "http_max_ms_busy", "ms", busy.Count == 0 ? double.NaN : busy.Max(), null, true),
            new Figure("contention", "handshakes_ok", "count", lr.Kv("ok"), null, false),
            new Figure("contention", "handshakes_failed", "count", lr.Kv("fail"), null, true),
            new Figure("contention", "http_errors", "count", errors, null, true),
        ];
    }

    /// <summary>
    /// Runs batches until the server's CPU per batch settles (at least <c>--warmup-min</c> batches, then two batches
    /// within 15 %): .NET's tiered JIT (with dynamic PGO) keeps recompiling BouncyCastle for ~4,000 handshakes and
    /// plateaus on the way, and a steady-state server is what we compare. The C reference gets one batch.
    /// </summary>
    private static void WarmUp(Tools t, Server s, Options o, string args)
    {
        int max = s.Ours ? o.MaxWarmupBatches : 1;
        double prev = double.NaN;
        int i = 0;
        for (; i < max; i++)
        {
            long a = ProcCpuTicks(s.Pid);
            Load(t, s, args, 300);
            double cpu = ProcCpuTicks(s.Pid) - a;
            if (i + 1 >= o.MinWarmupBatches && Math.Abs(cpu - prev) <= 0.15 * Math.Max(prev, 1))
            {
                i++;
                break;
            }

            prev = cpu;
        }

        Console.Error.WriteLine($"  {(s.Ours ? "ours" : "ref ")} warm-up: {i} batch(es) of {args}");
    }

    private static double Pct(List<double> xs, double p)
    {
        if (xs.Count == 0)
        {
            return double.NaN;
        }

        var s = xs.Order().ToList();
        int i = (int)Math.Ceiling(p / 100 * s.Count) - 1;
        return s[Math.Clamp(i, 0, s.Count - 1)];
    }

    private static IEnumerable<bool> Alternate(Options o)
    {
        // Ours first on even rounds, the reference first on odd ones; each scenario flips the order.
        bool oursFirst = (o.Flip++ % 2) == 0;
        return oursFirst ? [true, false] : [false, true];
    }

    private static Figure Fig(string scenario, string name, string unit, Dictionary<bool, LoadRun> m, Func<LoadRun, double> f, bool lower)
        => new(scenario, name, unit, f(m[true]), f(m[false]), lower);

    private static Figure Fig2<T>(string scenario, string name, string unit, Dictionary<bool, T> m, Func<T, double> f, bool lower)
        => new(scenario, name, unit, f(m[true]), f(m[false]), lower);

    // ---------------------------------------------------------------- load runs
}
