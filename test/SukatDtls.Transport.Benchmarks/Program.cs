using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace SukatDtls.Transport.Benchmarks;

/// <summary>
/// Compares the echo sample (samples/EchoServer, Release) with the OpenSSL C reference echo server
/// (shared/bench/dtls_echo_ref.c), both driven by the OpenSSL load generator (shared/bench/dtls_load.c).
/// <c>dotnet run -c Release --project test/SukatDtls.Transport.Benchmarks -- [handshake] [echo] [sessions]
/// [contention] [options]</c>; see <see cref="Options.Usage"/>.
/// </summary>
internal static class Program
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private static int Main(string[] args)
    {
        Options o;
        try
        {
            o = Options.Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine(e.Message);
            Console.Error.WriteLine(Options.Usage);
            return 2;
        }

        if (o.Help)
        {
            Console.WriteLine(Options.Usage);
            return 0;
        }

        try
        {
            if (o.ChartFrom is not null)
            {
                // Redraw the chart from an earlier --json file, without running anything.
                using var doc = JsonDocument.Parse(File.ReadAllText(o.ChartFrom));
                var figs = doc.RootElement.GetProperty("figures").EnumerateArray()
                    .Where(f => f.GetProperty("Reference").ValueKind == JsonValueKind.Number && f.GetProperty("Ours").ValueKind == JsonValueKind.Number)
                    .Select(f => new Figure(f.GetProperty("Scenario").GetString()!, f.GetProperty("Name").GetString()!, f.GetProperty("Unit").GetString()!,
                        f.GetProperty("Ours").GetDouble(), f.GetProperty("Reference").GetDouble(), f.GetProperty("LowerIsBetter").GetBoolean()))
                    .Where(f => f.Ratio is not null)
                    .ToList();
                var m = doc.RootElement.GetProperty("machine");
                string chart = o.Chart ?? throw new InvalidOperationException("--chart-from needs --chart FILE");
                File.WriteAllText(chart, Chart.Svg(figs, $"{m.GetProperty("nproc").GetInt32()} cores, {m.GetProperty("cpu").GetString()}"));
                Console.Error.WriteLine("wrote " + chart);
                return 0;
            }

            return Run(o);
        }
        catch (InvalidOperationException e)
        {
            Console.Error.WriteLine("benchmark: " + e.Message);
            return 1;
        }
    }

    private static int Run(Options o)
    {
        string repo = FindRepoRoot();
        string bench = Environment.GetEnvironmentVariable("SUKAT_BENCH_DIR") is { Length: > 0 } env
            ? env
            : Path.GetFullPath(Path.Combine(repo, "..", "shared", "bench"));
        if (!File.Exists(Path.Combine(bench, "dtls_load.c")))
        {
            throw new InvalidOperationException($"no dtls_load.c in {bench}; set SUKAT_BENCH_DIR.");
        }

        string tmp = Directory.CreateTempSubdirectory("sukat-bench-").FullName;
        try
        {
            var tools = new Tools(
                Gcc(Path.Combine(bench, "dtls_load.c"), Path.Combine(tmp, "dtls_load"), "-lssl", "-lcrypto", "-lpthread"),
                Gcc(Path.Combine(bench, "dtls_echo_ref.c"), Path.Combine(tmp, "dtls_echo_ref"), "-lssl", "-lcrypto"),
                Path.Combine(repo, "samples", "EchoServer", "bin", "Release", "net10.0", "EchoServer.dll"),
                repo,
                ClockTicks(),
                o.WorkstationGc);
            if (!o.NoBuild)
            {
                Console.Error.WriteLine("building samples/EchoServer (Release)…");
                Exec("dotnet", ["build", Path.Combine(repo, "samples", "EchoServer"), "-c", "Release", "-nologo", "-v", "q"], repo, 600);
            }

            if (!File.Exists(tools.EchoDll))
            {
                throw new InvalidOperationException($"{tools.EchoDll} is missing: build samples/EchoServer -c Release.");
            }

            var results = new List<Figure>();
            var lines = new List<string>();
            foreach (string scenario in o.Scenarios)
            {
                var figures = scenario switch
                {
                    "handshake" => Handshake(tools, o),
                    "echo" => Echo(tools, o),
                    "sessions" => Sessions(tools, o),
                    "contention" => Contention(tools, o),
                    _ => throw new InvalidOperationException("unknown scenario " + scenario),
                };
                results.AddRange(figures);
                string line = $"scenario={scenario} " + string.Join(' ', figures.Select(f => f.ToKeyValues()));
                lines.Add(line);
                Console.WriteLine(line);
            }

            WriteMachine(tools);
            if (o.Json is not null)
            {
                var doc = new
                {
                    machine = new { nproc = Environment.ProcessorCount, cpu = CpuModel(), utc = DateTime.UtcNow.ToString("u", Inv) },
                    options = o,
                    figures = results.Select(f => new { f.Scenario, f.Name, f.Unit, f.Ours, f.Reference, f.Ratio, f.LowerIsBetter }),
                };
                File.WriteAllText(o.Json, JsonSerializer.Serialize(doc, JsonOptions));
                Console.Error.WriteLine("wrote " + o.Json);
            }

            if (o.Chart is not null)
            {
                File.WriteAllText(o.Chart, Chart.Svg(results.Where(f => f.Ratio is not null).ToList(), $"{Environment.ProcessorCount} cores, {CpuModel()}"));
                Console.Error.WriteLine("wrote " + o.Chart);
            }

            return 0;
        }
        finally
        {
            try
            {
                Directory.Delete(tmp, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    private static void WriteMachine(Tools t)
    {
        Console.WriteLine($"machine nproc={Environment.ProcessorCount} cpu=\"{CpuModel()}\" clk_tck={t.ClkTck}");
    }

    // ---------------------------------------------------------------- scenarios

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

    private static LoadRun Measure(Tools t, Server s, string args, int timeoutSeconds)
    {
        long before = ProcCpuTicks(s.Pid);
        var lr = Load(t, s, args, timeoutSeconds);
        long after = ProcCpuTicks(s.Pid);
        lr.CpuSeconds = (after - before) / (double)t.ClkTck;
        Console.Error.WriteLine($"  {(s.Ours ? "ours" : "ref ")} {args}: {lr.Raw} server_cpu_s={lr.CpuSeconds:F2}");
        return lr;
    }

    private static LoadRun Load(Tools t, Server s, string args, int timeoutSeconds)
    {
        var run = StartLoad(t, s, args);
        if (!run.Process.WaitForExit(timeoutSeconds * 1000))
        {
            run.Process.Kill();
            throw new InvalidOperationException($"dtls_load {args} did not finish in {timeoutSeconds} s");
        }

        return FinishLoad(run, args);
    }

    private sealed record LoadProcess(Process Process, StringBuilder Out, StringBuilder Err);

    private static LoadProcess StartLoad(Tools t, Server s, string args)
    {
        var psi = new ProcessStartInfo(t.Load, $"-H 127.0.0.1 -p {s.Port} {args}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start dtls_load");
        var o = new StringBuilder();
        var e = new StringBuilder();
        p.OutputDataReceived += (_, a) => { if (a.Data is not null) { lock (o) { o.AppendLine(a.Data); } } };
        p.ErrorDataReceived += (_, a) => { if (a.Data is not null) { lock (e) { e.AppendLine(a.Data); } } };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return new LoadProcess(p, o, e);
    }

    private static LoadRun FinishLoad(LoadProcess run, string what)
    {
        run.Process.WaitForExit();
        string text;
        lock (run.Out)
        {
            text = run.Out.ToString().Trim();
        }

        var lr = LoadRun.Parse(text);
        if (run.Process.ExitCode != 0)
        {
            Console.Error.WriteLine($"  warning: dtls_load {what} exit {run.Process.ExitCode}: {text} {run.Err.ToString().Trim()}");
        }

        run.Process.Dispose();
        return lr;
    }

    // ---------------------------------------------------------------- /proc

    private static long ProcCpuTicks(int pid)
    {
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        string[] f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // After "pid (comm) " the fields start at 3 (state); utime is field 14, stime 15.
        return long.Parse(f[14 - 3], Inv) + long.Parse(f[15 - 3], Inv);
    }

    private static (double Threads, double RssKb) ProcStatus(int pid)
    {
        double threads = 0, rss = 0;
        foreach (string line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("Threads:", StringComparison.Ordinal))
            {
                threads = double.Parse(line[8..].Trim(), Inv);
            }
            else if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = double.Parse(line[6..].Replace("kB", "", StringComparison.Ordinal).Trim(), Inv);
            }
        }

        return (threads, rss);
    }

    private static void GcSettle() => Thread.Sleep(1500);

    private static int ClockTicks()
    {
        string s = Exec("getconf", ["CLK_TCK"], ".", 10).Trim();
        return int.TryParse(s, Inv, out int v) && v > 0 ? v : 100;
    }

    private static string CpuModel()
    {
        try
        {
            string? l = File.ReadLines("/proc/cpuinfo").FirstOrDefault(x => x.StartsWith("model name", StringComparison.Ordinal));
            return l is null ? "unknown" : l[(l.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    // ---------------------------------------------------------------- processes

    private static string Gcc(string source, string output, params string[] libs)
    {
        Exec("gcc", ["-O2", "-o", output, source, .. libs], ".", 120);
        return output;
    }

    private static string Exec(string file, string[] args, string cwd, int timeoutSeconds)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = cwd };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + file);
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(timeoutSeconds * 1000))
        {
            p.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{file} timed out");
        }

        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({p.ExitCode}): {output}{err.GetAwaiter().GetResult()}");
        }

        return output;
    }

    private static string FindRepoRoot()
    {
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
            {
                if (File.Exists(Path.Combine(d.FullName, "SukatDtls.Transport.sln")))
                {
                    return d.FullName;
                }
            }
        }

        throw new InvalidOperationException("cannot find the repository root (SukatDtls.Transport.sln).");
    }

    internal sealed record Tools(string Load, string Ref, string EchoDll, string Repo, int ClkTck, bool WorkstationGc);

    /// <summary>A server under test: the echo sample (ours) or dtls_echo_ref, killed on dispose.</summary>
    internal sealed class Server : IDisposable
    {
        private readonly Process _p;

        private Server(Process p, bool ours, int port, Uri? status)
        {
            _p = p;
            Ours = ours;
            Port = port;
            StatusUrl = status;
        }

        public bool Ours { get; }

        public int Port { get; }

        public Uri? StatusUrl { get; }

        private Queue<string>? _stderrTail;

        public int Pid => _p.Id;

        public bool HasExited => _p.HasExited;

        public string ExitDescription()
        {
            string tail = "";
            if (_stderrTail is not null)
            {
                lock (_stderrTail)
                {
                    tail = string.Join(" | ", _stderrTail);
                }
            }

            return $"exit code {(_p.HasExited ? _p.ExitCode.ToString(Inv) : "-")}; last output: {tail}";
        }

        public static Server Start(Tools t, bool ours, string cert, string key)
        {
            string certPath = Path.Combine(t.Repo, "certs", cert), keyPath = Path.Combine(t.Repo, "certs", key);
            if (ours)
            {
                var psi = new ProcessStartInfo("dotnet")
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    UseShellExecute = false,
                    WorkingDirectory = Path.GetDirectoryName(t.EchoDll)!,
                };
                foreach (string a in new[] { t.EchoDll, "--port", "0", "--status-port", "0", "--cert", certPath, "--key", keyPath })
                {
                    psi.ArgumentList.Add(a);
                }

                psi.Environment["Logging__LogLevel__Default"] = "Warning";
                if (t.WorkstationGc)
                {
                    psi.Environment["DOTNET_gcServer"] = "0";
                }
                var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start the echo sample");
                var tail = new Queue<string>();
                p.ErrorDataReceived += (_, a) =>
                {
                    if (a.Data is not null)
                    {
                        lock (tail)
                        {
                            tail.Enqueue(a.Data);
                            if (tail.Count > 20)
                            {
                                tail.Dequeue();
                            }
                        }
                    }
                };
                p.BeginErrorReadLine();
                int port = 0;
                Uri? status = null;
                var deadline = DateTime.UtcNow.AddSeconds(60);
                while ((port == 0 || status is null) && DateTime.UtcNow < deadline)
                {
                    string? line = p.StandardOutput.ReadLine();
                    if (line is null)
                    {
                        break;
                    }

                    if (line.StartsWith("Hosting at: ", StringComparison.Ordinal))
                    {
                        port = IPEndPoint.Parse(line[12..].Trim()).Port;
                    }
                    else if (line.StartsWith("Status page at: ", StringComparison.Ordinal))
                    {
                        status = new Uri(line[16..].Trim());
                    }
                }

                if (port == 0)
                {
                    p.Kill();
                    throw new InvalidOperationException("the echo sample did not print 'Hosting at:'");
                }

                // Keep draining stdout so the server never blocks on a full pipe.
                _ = Task.Run(() =>
                {
                    while (p.StandardOutput.ReadLine() is string l)
                    {
                        lock (tail)
                        {
                            tail.Enqueue(l);
                            if (tail.Count > 20)
                            {
                                tail.Dequeue();
                            }
                        }
                    }
                });
                return new Server(p, true, port, status) { _stderrTail = tail };
            }
            else
            {
                int port = FreeUdpPort();
                var psi = new ProcessStartInfo(t.Ref) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                psi.ArgumentList.Add(port.ToString(Inv));
                psi.ArgumentList.Add(certPath);
                psi.ArgumentList.Add(keyPath);
                var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start dtls_echo_ref");
                p.OutputDataReceived += (_, _) => { };
                p.ErrorDataReceived += (_, _) => { };
                p.BeginOutputReadLine();
                p.BeginErrorReadLine();
                Thread.Sleep(300);
                if (p.HasExited)
                {
                    throw new InvalidOperationException("dtls_echo_ref exited at start");
                }

                return new Server(p, false, port, null);
            }
        }

        private static int FreeUdpPort()
        {
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            return ((IPEndPoint)s.LocalEndPoint!).Port;
        }

        public void Dispose()
        {
            try
            {
                if (!_p.HasExited)
                {
                    _p.Kill();
                    _p.WaitForExit(5000);
                }
            }
            catch (InvalidOperationException)
            {
            }

            _p.Dispose();
        }
    }
}

/// <summary>One dtls_load result line (key=value pairs) plus the server CPU it cost.</summary>
internal sealed class LoadRun
{
    private readonly Dictionary<string, double> _kv = new(StringComparer.Ordinal);

    public string Raw { get; private init; } = "";

    public double CpuSeconds { get; set; }

    public double Kv(string key) => _kv.TryGetValue(key, out double v) ? v : double.NaN;

    public static LoadRun Parse(string line)
    {
        var r = new LoadRun { Raw = line };
        foreach (string part in line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0 && double.TryParse(part[(eq + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out double v))
            {
                r._kv[part[..eq]] = v;
            }
        }

        return r;
    }
}

/// <summary>One figure: ours, the reference's (null when the reference has no such thing) and ours/reference.</summary>
internal sealed record Figure(string Scenario, string Name, string Unit, double Ours, double? Reference, bool LowerIsBetter)
{
    public double? Ratio => Reference is double r && r != 0 && double.IsFinite(r) && double.IsFinite(Ours) ? Ours / r : null;

    public string ToKeyValues()
    {
        var inv = CultureInfo.InvariantCulture;
        string s = $"{Name}_ours={Ours.ToString("G4", inv)}";
        if (Reference is double r)
        {
            s += $" {Name}_ref={r.ToString("G4", inv)} {Name}_ratio={(Ratio is double q ? q.ToString("F2", inv) : "NaN")}";
        }

        return s;
    }
}

internal sealed class Options
{
    public const string Usage =
        "usage: SukatDtls.Transport.Benchmarks [handshake] [echo] [sessions] [contention] [options]\n" +
        "  (no scenario = all four)\n" +
        "  --handshakes N     full/resumed handshakes per server (default 1000; RSA: a quarter)\n" +
        "  --concurrency C    handshakes in flight (default 8)\n" +
        "  --echo-conns C     echo connections (default 4)\n" +
        "  --echo-messages M  echoes per connection (default 5000)\n" +
        "  --echo-size S      bytes per record (default 1000)\n" +
        "  --sessions N       idle sessions held (default 2000)\n" +
        "  --keep S           seconds each session is held (default 15)\n" +
        "  --contention-n N --contention-c C   handshakes and in flight for 'contention' (default 1500, 500)\n" +
        "  --no-rsa           skip the RSA handshake\n" +
        "  --warmup-min B --warmup B   our server's warm-up: at least/most B batches (500 handshakes, 100 RSA, or\n" +
        "                     4 x 2000 echoes) until its CPU per batch settles (default 8, 14)\n" +
        "  --workstation-gc   run the echo sample with DOTNET_gcServer=0 (it ships with server GC)\n" +
        "  --no-build         do not build samples/EchoServer (needs its Release build)\n" +
        "  --json FILE        also write the figures as JSON\n" +
        "  --chart FILE       write an SVG bar chart of the ratios (e.g. docs/benchmark-chart.svg)\n" +
        "  --chart-from JSON  with --chart: only redraw the chart from an earlier --json file\n" +
        "Needs gcc and libssl-dev; finds shared/bench next to the repository or in $SUKAT_BENCH_DIR.";

    public List<string> Scenarios { get; } = [];

    public int Handshakes { get; set; } = 1000;

    public int Concurrency { get; set; } = 8;

    public int EchoConnections { get; set; } = 4;

    public int EchoMessages { get; set; } = 5000;

    public int EchoSize { get; set; } = 1000;

    public int Sessions { get; set; } = 2000;

    public int KeepSeconds { get; set; } = 15;

    public int ContentionHandshakes { get; set; } = 1500;

    public int ContentionInFlight { get; set; } = 500;

    public bool NoRsa { get; set; }

    public bool WorkstationGc { get; set; }

    public int MaxWarmupBatches { get; set; } = 14;

    public int MinWarmupBatches { get; set; } = 8;

    public bool NoBuild { get; set; }

    public string? Json { get; set; }

    public string? Chart { get; set; }

    public string? ChartFrom { get; set; }

    public bool Help { get; set; }

    [System.Text.Json.Serialization.JsonIgnore]
    public int Flip { get; set; }

    public static Options Parse(string[] args)
    {
        var o = new Options();
        for (int i = 0; i < args.Length; i++)
        {
            string a = args[i];
            int Int() => i + 1 < args.Length && int.TryParse(args[++i], NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v > 0
                ? v
                : throw new ArgumentException($"{a} needs a positive number");
            string Str() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{a} needs a value");
            switch (a)
            {
                case "handshake" or "echo" or "sessions" or "contention": o.Scenarios.Add(a); break;
                case "--handshakes": o.Handshakes = Int(); break;
                case "--concurrency": o.Concurrency = Int(); break;
                case "--echo-conns": o.EchoConnections = Int(); break;
                case "--echo-messages": o.EchoMessages = Int(); break;
                case "--echo-size": o.EchoSize = Math.Max(16, Int()); break;
                case "--sessions": o.Sessions = Int(); break;
                case "--keep": o.KeepSeconds = Int(); break;
                case "--contention-n": o.ContentionHandshakes = Int(); break;
                case "--contention-c": o.ContentionInFlight = Int(); break;
                case "--no-rsa": o.NoRsa = true; break;
                case "--workstation-gc": o.WorkstationGc = true; break;
                case "--warmup": o.MaxWarmupBatches = Int(); break;
                case "--warmup-min": o.MinWarmupBatches = Int(); break;
                case "--no-build": o.NoBuild = true; break;
                case "--json": o.Json = Path.GetFullPath(Str()); break;
                case "--chart": o.Chart = Path.GetFullPath(Str()); break;
                case "--chart-from": o.ChartFrom = Path.GetFullPath(Str()); break;
                case "-h" or "--help": o.Help = true; break;
                default: throw new ArgumentException($"unknown argument '{a}'");
            }
        }

        if (o.Scenarios.Count == 0)
        {
            o.Scenarios.AddRange(["handshake", "echo", "sessions", "contention"]);
        }

        return o;
    }
}

/// <summary>A hand-written SVG: one horizontal bar per figure, ours/reference on a log scale, with the 1.0 line.</summary>
internal static class Chart
{
    public static string Svg(List<Figure> figs, string machine)
    {
        var inv = CultureInfo.InvariantCulture;
        const int left = 340, width = 420, rowH = 22, top = 50;
        int height = top + (figs.Count * rowH) + 50;
        double lo = Math.Log10(0.1), hi = Math.Log10(100);
        foreach (var f in figs)
        {
            double l = Math.Log10(Math.Max(1e-3, f.Ratio!.Value));
            lo = Math.Min(lo, Math.Floor(l));
            hi = Math.Max(hi, Math.Ceiling(l));
        }

        double X(double ratio) => left + ((Math.Log10(Math.Max(1e-3, ratio)) - lo) / (hi - lo) * width);
        var sb = new StringBuilder();
        sb.Append(inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{left + width + 90}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        sb.Append(inv, $"<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        sb.Append(inv, $"<text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">SukatDtls echo sample / OpenSSL reference (log scale; 1.0 = parity)</text>\n");
        sb.Append(inv, $"<text x=\"10\" y=\"38\" fill=\"#555\">green: ours better, red: ours worse ({Esc(machine)})</text>\n");
        for (double d = lo; d <= hi; d++)
        {
            double v = Math.Pow(10, d);
            double x = X(v);
            sb.Append(inv, $"<line x1=\"{x:F1}\" y1=\"{top - 5}\" x2=\"{x:F1}\" y2=\"{height - 40}\" stroke=\"{(d == 0 ? "#000" : "#ddd")}\" stroke-width=\"{(d == 0 ? 1.5 : 1)}\"/>\n");
            sb.Append(inv, $"<text x=\"{x:F1}\" y=\"{height - 25}\" text-anchor=\"middle\">{v.ToString("0.###", inv)}×</text>\n");
        }

        for (int i = 0; i < figs.Count; i++)
        {
            var f = figs[i];
            double r = f.Ratio!.Value;
            double y = top + (i * rowH);
            double x0 = X(1), x1 = X(r);
            bool better = f.LowerIsBetter ? r <= 1 : r >= 1;
            string colour = better ? "#3a3" : "#c33";
            sb.Append(inv, $"<text x=\"{left - 6}\" y=\"{y + 14}\" text-anchor=\"end\">{Esc(f.Name)} ({(f.LowerIsBetter ? "lower" : "higher")} better)</text>\n");
            sb.Append(inv, $"<rect x=\"{Math.Min(x0, x1):F1}\" y=\"{y + 3}\" width=\"{Math.Max(1, Math.Abs(x1 - x0)):F1}\" height=\"{rowH - 6}\" fill=\"{colour}\"/>\n");
            sb.Append(inv, $"<text x=\"{Math.Max(x0, x1) + 4:F1}\" y=\"{y + 14}\">{r.ToString("0.##", inv)}×</text>\n");
        }

        sb.Append("</svg>\n");
        return sb.ToString();
    }

    private static string Esc(string s) => s.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);
}
