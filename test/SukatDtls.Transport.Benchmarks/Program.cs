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
/// [contention] [latency] [flood] [restart-storm] [options]</c>; see <see cref="Options.Usage"/>.
/// </summary>
internal static partial class Program
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
            // Ours runs as it is deployed: the Native AOT executable of `dotnet publish` (the sample sets PublishAot),
            // or with --jit the framework-dependent build that `dotnet run` makes.
            string echoDir = Path.Combine(repo, "samples", "EchoServer");
            string echoProgram = o.Jit
                ? Path.Combine(echoDir, "bin", "Release", "net10.0", "EchoServer.dll")
                : Path.Combine(echoDir, "bin", "Release", "aot", "EchoServer");
            var tools = new Tools(
                Gcc(Path.Combine(bench, "dtls_load.c"), Path.Combine(tmp, "dtls_load"), "-lssl", "-lcrypto", "-lpthread"),
                Gcc(Path.Combine(bench, "dtls_echo_ref.c"), Path.Combine(tmp, "dtls_echo_ref"), "-lssl", "-lcrypto"),
                echoProgram,
                !o.Jit,
                repo,
                ClockTicks(),
                o.ServerGc);
            if (!o.NoBuild)
            {
                if (o.Jit)
                {
                    Console.Error.WriteLine("building samples/EchoServer (Release)…");
                    Exec("dotnet", ["build", echoDir, "-c", "Release", "-nologo", "-v", "q"], repo, 600);
                }
                else
                {
                    Console.Error.WriteLine("publishing samples/EchoServer (Release, Native AOT; needs clang and zlib1g-dev)…");
                    Exec("dotnet", ["publish", echoDir, "-c", "Release", "-o", Path.GetDirectoryName(echoProgram)!, "-nologo", "-v", "q"], repo, 900);
                }
            }

            if (!File.Exists(tools.EchoProgram))
            {
                throw new InvalidOperationException(o.Jit
                    ? $"{tools.EchoProgram} is missing: build samples/EchoServer -c Release."
                    : $"{tools.EchoProgram} is missing: dotnet publish samples/EchoServer -c Release -o {Path.GetDirectoryName(echoProgram)}.");
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
                    "latency" => Latency(tools, o),
                    "flood" => Flood(tools, o),
                    "restart-storm" => RestartStorm(tools, o),
                    "migration" => Migration(tools, o),
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
        Console.WriteLine($"machine nproc={Environment.ProcessorCount} cpu=\"{CpuModel()}\" clk_tck={t.ClkTck} ours={(t.EchoIsNative ? "aot" : "jit")}");
    }

    // ---------------------------------------------------------------- scenarios
}
