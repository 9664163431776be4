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
            var tools = new Tools(
                Gcc(Path.Combine(bench, "dtls_load.c"), Path.Combine(tmp, "dtls_load"), "-lssl", "-lcrypto", "-lpthread"),
                Gcc(Path.Combine(bench, "dtls_echo_ref.c"), Path.Combine(tmp, "dtls_echo_ref"), "-lssl", "-lcrypto"),
                Path.Combine(repo, "samples", "EchoServer", "bin", "Release", "net10.0", "EchoServer.dll"),
                repo,
                ClockTicks(),
                o.ServerGc);
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
        Console.WriteLine($"machine nproc={Environment.ProcessorCount} cpu=\"{CpuModel()}\" clk_tck={t.ClkTck}");
    }

    // ---------------------------------------------------------------- scenarios
}
