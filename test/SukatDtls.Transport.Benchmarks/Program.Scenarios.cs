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
            var w = new Dictionary<bool, Warmup>();
            foreach (bool ours in Alternate(o))
            {
                using var server = Server.Start(t, ours, v.Cert, v.Key);
                w[ours] = WarmUp(t, server, o, $"-n {(v.Name == "rsa" ? 100 : 500)} -c {o.Concurrency}" + (v.Resume ? " -r" : ""), r => r.Kv("ok"));
                m[ours] = Measure(t, server, $"-n {v.N} -c {o.Concurrency}" + (v.Resume ? " -r" : ""), 300);
            }

            string p = "hs_" + v.Name;
            figs.Add(Fig("handshake", p + "_per_s", "1/s", m, r => r.Kv("hs_per_s"), lower: false));
            figs.Add(Fig("handshake", p + "_cpu_us", "µs CPU", m, r => r.CpuSeconds * 1e6 / r.Kv("ok"), lower: true));
            figs.Add(Fig("handshake", p + "_p50_us", "µs", m, r => r.Kv("hs_p50_us"), lower: true));
            figs.Add(Fig("handshake", p + "_p99_us", "µs", m, r => r.Kv("hs_p99_us"), lower: true));
            figs.Add(Fig("handshake", p + "_ctx_switches", "switches", m, r => Math.Round((double)r.ContextSwitches / r.Kv("ok"), 1), lower: true));

            // Ours only, from the server's own counters (status page) over the measured run; the C reference has no GC.
            var ourRun = m[true];
            figs.Add(new Figure("handshake", p + "_alloc_kb", "KB allocated", ourRun.Server(GcAllocatedBytes) / 1024 / ourRun.Kv("ok"), null, true));
            figs.AddRange(RuntimeFigures("handshake", p, ourRun));

            // The warm-up a restarted server pays: CPU per handshake of its first batch against the reference's first
            // (its only) batch, and how long ours took until the JIT went quiet.
            figs.Add(Fig2("handshake", p + "_first_batch_cpu_us", "µs CPU", w, x => x.FirstBatchCpuPerUnit * 1e6, lower: true));
            figs.AddRange(WarmupFigures("handshake", p, "_warmup_hs", w[true]));
        }

        return figs;
    }

    private static List<Figure> Echo(Tools t, Options o)
    {
        var m = new Dictionary<bool, LoadRun>();
        var w = new Dictionary<bool, Warmup>();
        string args = $"-n {o.EchoConnections} -c {o.EchoConnections} -m {o.EchoMessages} -s {o.EchoSize}";
        foreach (bool ours in Alternate(o))
        {
            using var server = Server.Start(t, ours, "server.pem", "server.key");
            w[ours] = WarmUp(t, server, o, $"-n {o.EchoConnections} -c {o.EchoConnections} -m 2000 -s {o.EchoSize}", EchoedRecords);
            m[ours] = Measure(t, server, args, 600);
        }

        // dtls_load counts echoed messages; each is one record each way. CPU per record = per echoed record (in + out).
        var ourRun = m[true];
        return
        [
            Fig("echo", "echo_records_per_s", "1/s", m, r => r.Kv("msgs_per_s"), lower: false),
            Fig("echo", "echo_mbytes_per_s", "MB/s", m, r => r.Kv("mbytes_per_s"), lower: false),
            Fig("echo", "echo_cpu_us_per_record", "µs CPU", m, r => r.CpuSeconds * 1e6 / EchoedRecords(r), lower: true),
            Fig("echo", "echo_rtt_p50_us", "µs", m, r => r.Kv("rtt_p50_us"), lower: true),
            Fig("echo", "echo_rtt_p99_us", "µs", m, r => r.Kv("rtt_p99_us"), lower: true),
            new Figure("echo", "echo_alloc_bytes_per_record", "bytes allocated", Math.Round(ourRun.Server(GcAllocatedBytes) / EchoedRecords(ourRun)), null, true),
            .. RuntimeFigures("echo", "echo", ourRun),
            Fig2("echo", "echo_first_batch_cpu_us_per_record", "µs CPU", w, x => x.FirstBatchCpuPerUnit * 1e6, lower: true),
            .. WarmupFigures("echo", "echo", "_warmup_records", w[true]),
        ];
    }

    /// <summary>Echoes in a dtls_load run (each one record in and one out), as the CPU per record counts them.</summary>
    private static double EchoedRecords(LoadRun r) => Math.Round(r.Kv("msgs_per_s") * r.Kv("secs"));

    /// <summary>What the measured run cost our server's runtime, from its own counters (the reference has none).</summary>
    private static IEnumerable<Figure> RuntimeFigures(string scenario, string p, LoadRun ours) =>
    [
        new Figure(scenario, p + "_gcs", "collections", ours.Server(GcGen0Collections), null, true),
        new Figure(scenario, p + "_gen2_gcs", "collections", ours.Server(GcGen2Collections), null, true),
        new Figure(scenario, p + "_gc_pause_ms", "ms", ours.Server(GcPauseMilliseconds), null, true),
        new Figure(scenario, p + "_jit_methods", "methods", ours.Server(JitCompiledMethods), null, true),
        new Figure(scenario, p + "_jit_ms", "ms", ours.Server(JitCompilationMilliseconds), null, true),
    ];

    /// <summary>Our warm-up: batches, units (handshakes or records) until the JIT went quiet, whether it did, its CPU.</summary>
    private static IEnumerable<Figure> WarmupFigures(string scenario, string p, string unitsKey, Warmup w) =>
    [
        new Figure(scenario, p + "_warmup_batches", "batches", w.Batches, null, true),
        new Figure(scenario, p + unitsKey, "count", w.Units, null, true),
        new Figure(scenario, p + "_warmup_jit_quiet", "bool", w.JitQuiet ? 1 : 0, null, false),
        new Figure(scenario, p + "_warmup_cpu_s", "s CPU", w.CpuSeconds, null, true),
    ];

    private static List<Figure> Sessions(Tools t, Options o)
    {
        var res = new Dictionary<bool, (double Threads0, double Threads, double Rss0Kb, double RssKb, double HeldRssKb, double Ok)>();
        foreach (bool ours in Alternate(o))
        {
            using var server = Server.Start(t, ours, "server.pem", "server.key");
            Load(t, server, "-n 200 -c 8", 120); // warm-up so the baseline includes JIT'd code and pools
            GcSettle();
            var (threads0, rss0) = ProcStatus(server.Pid);
            double maxRss = rss0;
            var samples = new List<(double Seconds, double Threads, double RssKb)>();
            var clock = Stopwatch.StartNew();
            var run = StartLoad(t, server, $"-n {o.Sessions} -c {o.Sessions} -m 1 -s 32 -k {o.KeepSeconds} -t 20000");
            while (!run.Process.HasExited)
            {
                var (th, rss) = ProcStatus(server.Pid);
                samples.Add((clock.Elapsed.TotalSeconds, th, rss));
                maxRss = Math.Max(maxRss, rss);
                Thread.Sleep(200);
            }

            double total = clock.Elapsed.TotalSeconds;

            // Threads while the sessions sit idle: the median of the second half of the run (the handshakes are over by then).
            double maxThreads = samples.Count == 0 ? threads0 : Median(samples.Skip(samples.Count / 2).Select(x => x.Threads));

            // RSS while every session is established and idle: each connection closes --keep seconds after its echo, so
            // all are open together from the end of the handshake burst (the run's length less --keep) until --keep
            // seconds after the first; the median of that window, from 2 s after the burst (the peak is the burst's).
            double burstEnd = total - o.KeepSeconds;
            var held = samples.Where(x => x.Seconds >= burstEnd + 2 && x.Seconds <= o.KeepSeconds).Select(x => x.RssKb).ToList();
            double heldRss = held.Count == 0 ? double.NaN : Median(held);
            if (held.Count == 0)
            {
                Console.Error.WriteLine($"  sessions: the handshake burst took {burstEnd:F0} s, so no moment held every session idle for --keep {o.KeepSeconds}; raise --keep above {burstEnd + 4:F0} for the held figure");
            }

            var lr = FinishLoad(run, "sessions");
            double ok = lr.Kv("ok");
            res[ours] = (threads0, maxThreads, rss0, maxRss, heldRss, ok);
            Console.Error.WriteLine($"  sessions {(ours ? "ours" : "ref")}: ok={ok} fail={lr.Kv("fail")} threads {threads0}->{maxThreads} rss {rss0}->{maxRss} KB (peak), {heldRss:F0} KB held ({held.Count} samples, burst {burstEnd:F1} s)");
        }

        var d = res.ToDictionary(kv => kv.Key, kv => kv.Value);
        return
        [
            Fig2("sessions", "sessions_held", "count", d, r => r.Ok, lower: false),
            Fig2("sessions", "sessions_threads_idle", "threads", d, r => r.Threads0, lower: true),
            Fig2("sessions", "sessions_threads_held", "threads", d, r => r.Threads, lower: true),
            Fig2("sessions", "sessions_rss_mb", "MB", d, r => r.RssKb / 1024, lower: true),
            Fig2("sessions", "sessions_rss_kb_per_session", "KB", d, r => (r.RssKb - r.Rss0Kb) / Math.Max(1, r.Ok), lower: true),
            Fig2("sessions", "sessions_rss_held_kb_per_session", "KB", d, r => (r.HeldRssKb - r.Rss0Kb) / Math.Max(1, r.Ok), lower: true),
        ];

        static double Median(IEnumerable<double> values)
        {
            var sorted = values.Order().ToList();
            return sorted[sorted.Count / 2];
        }
    }

    private static List<Figure> Contention(Tools t, Options o)
    {
        using var server = Server.Start(t, ours: true, "server.pem", "server.key");
        Load(t, server, "-n 200 -c 8", 120);
        StatusHttp.GetStringAsync(new Uri(server.StatusUrl!, "status")).GetAwaiter().GetResult();

        var quietEnd = DateTime.UtcNow.AddSeconds(3);
        var (quiet, quietErrors) = ProbeStatus(server, () => DateTime.UtcNow < quietEnd);
        var cpu0 = ProcCpuTicks(server.Pid);
        var run = StartLoad(t, server, $"-n {o.ContentionHandshakes} -c {o.ContentionInFlight} -t 20000");
        var (busy, busyErrors) = ProbeStatus(server, () => !run.Process.HasExited);
        var lr = FinishLoad(run, "contention");
        int errors = quietErrors + busyErrors;
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

    /// <summary>Idle time after each warm-up batch of ours: longer than the runtime's 100 ms call-counting delay.</summary>
    private static readonly TimeSpan TieringPause = TimeSpan.FromMilliseconds(300);

    /// <summary>What warming a server up took: batches, units (handshakes or echoed records), server CPU.</summary>
    internal sealed record Warmup(int Batches, double Units, double CpuSeconds, double FirstBatchCpuPerUnit, bool JitQuiet);

    /// <summary>
    /// Warms a server up in batches of <paramref name="args"/>. Ours: until the JIT is quiet — <c>--warmup-quiet</c>
    /// batches in a row in each of which the server compiled fewer than <c>--warmup-jit</c> methods (its
    /// <c>jitCompiledMethods</c>, status page), after at least <c>--warmup-min</c> batches — or until <c>--warmup</c>
    /// batches or <c>--warmup-seconds</c>, whichever comes first, so it always ends. .NET's tiered JIT with dynamic PGO
    /// keeps recompiling for many thousands of handshakes, with its background thread taking a good part of the CPU; a
    /// steady-state server is what the measured run compares. The C reference gets one batch (it has no JIT). Batch by
    /// batch, the JIT methods and the server CPU per unit go to stderr.
    /// </summary>
    /// <remarks>
    /// After each batch the server idles for <see cref="TieringPause"/> before its JIT count is read. The runtime
    /// starts counting calls towards tier 1 only once no new tier-0 code was compiled for 100 ms
    /// (<c>TC_CallCountingDelayMs</c>), and a trickle of new tier-0 methods keeps pushing that back: without the pause a
    /// batch can compile almost nothing while hundreds of methods wait for promotion (seen here: 4 methods in the second
    /// batch of 500 handshakes, then 620 in the measured run). The pause lets the delay expire between batches, so the
    /// next batch runs with call counting on and the promotions it triggers land in its own count.
    /// </remarks>
    private static Warmup WarmUp(Tools t, Server s, Options o, string args, Func<LoadRun, double> units)
    {
        int max = s.Ours ? o.MaxWarmupBatches : 1;
        if (s.Ours)
        {
            PrimeStatusPage(s);
        }

        var clock = Stopwatch.StartNew();
        var status = ReadStatus(s);
        var jitPerBatch = new List<double>();
        var cpuPerUnit = new List<double>();
        double total = 0, cpuTotal = 0;
        bool quiet = false;
        int batches = 0, quietRun = 0;
        while (batches < max)
        {
            long a = ProcCpuTicks(s.Pid);
            var lr = Load(t, s, args, 300);
            double cpu = (ProcCpuTicks(s.Pid) - a) / (double)t.ClkTck;
            if (s.Ours)
            {
                Thread.Sleep(TieringPause);
            }

            var next = ReadStatus(s);
            double jit = StatusValue(next, JitCompiledMethods) - StatusValue(status, JitCompiledMethods);
            status = next;
            double n = units(lr);
            batches++;
            total += n;
            cpuTotal += cpu;
            jitPerBatch.Add(jit);
            cpuPerUnit.Add(cpu / n);
            if (!s.Ours || batches < o.MinWarmupBatches)
            {
                continue;
            }

            quietRun = jit < o.WarmupJitMethods ? quietRun + 1 : 0;
            if (quietRun >= o.WarmupQuietBatches)
            {
                quiet = true;
                break;
            }

            if (double.IsNaN(jit) || clock.Elapsed.TotalSeconds >= o.WarmupSeconds)
            {
                break; // no status page to tell, or out of time
            }
        }

        var inv = CultureInfo.InvariantCulture;
        string why = !s.Ours ? "" : quiet ? $", JIT quiet (< {o.WarmupJitMethods} methods in each of the last {o.WarmupQuietBatches} batches)" : ", JIT NOT quiet: stopped by --warmup/--warmup-seconds";
        Console.Error.WriteLine($"  {(s.Ours ? "ours" : "ref ")} warm-up: {batches} batch(es) of {args} = {total.ToString("F0", inv)} units in {clock.Elapsed.TotalSeconds.ToString("F1", inv)} s{why}");
        if (s.Ours)
        {
            Console.Error.WriteLine($"    jit methods per batch: {string.Join(' ', jitPerBatch.Select(x => x.ToString("F0", inv)))}");
        }

        Console.Error.WriteLine($"    server cpu µs per unit per batch: {string.Join(' ', cpuPerUnit.Select(x => (x * 1e6).ToString("F1", inv)))}");
        return new Warmup(batches, total, cpuTotal, cpuPerUnit[0], quiet);
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
