using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace SukatDtls.Transport.Benchmarks;

internal sealed class Options
{
    public const string Usage =
        "usage: SukatDtls.Transport.Benchmarks [handshake] [echo] [sessions] [contention] [latency] [flood] [restart-storm] [migration] [options]\n" +
        "  (no scenario = the first four; 'latency', 'flood', 'restart-storm' and 'migration' run only when named)\n" +
        "  --handshakes N     full/resumed handshakes per server (default 1000; RSA: a quarter)\n" +
        "  --concurrency C    handshakes in flight (default 8)\n" +
        "  --echo-conns C     echo connections (default 4)\n" +
        "  --echo-messages M  echoes per connection (default 5000)\n" +
        "  --echo-size S      bytes per record (default 1000)\n" +
        "  --sessions N       idle sessions held (default 2000)\n" +
        "  --keep S           seconds each session is held (default 15)\n" +
        "  --contention-n N --contention-c C   handshakes and in flight for 'contention' (default 1500, 500)\n" +
        "  --latency-n N --latency-c C   'latency': handshakes and in flight through the relay (default 2000, 600)\n" +
        "  --latency-delay-ms D   'latency': the relay's delay each way (default 100, so 200 ms RTT)\n" +
        "  --flood-rate R     'flood': silent peers per second from 127.0.1.1 (default 200)\n" +
        "  --flood-lead S     'flood': seconds of flood before the legitimate clients start (default 6)\n" +
        "  --flood-n N --flood-c C   'flood': legitimate handshakes and in flight, from 127.0.0.1 (default 200, 10)\n" +
        "  --storm-clients N  'restart-storm': clients holding sessions that reconnect at once after the restart (default 500)\n" +
        "  --migration-sessions N  'migration': sessions with a Connection ID that all move once (default 1000)\n" +
        "  --storm-lookup-timeout MS  'restart-storm': the server's session store OperationTimeout (default: the library's)\n" +
        "  --max-handshakes N 'latency', 'flood': our server's MaxConcurrentHandshakes (default 1024, the library's)\n" +
        "  --no-rsa           skip the RSA handshake\n" +
        "  --warmup-jit N --warmup-quiet K   our server's warm-up: batches (500 handshakes, 100 RSA, or\n" +
        "                     4 x 2000 echoes) until K batches in a row each compile fewer than N methods\n" +
        "                     (its status page's JIT count; default 10, 2)\n" +
        "  --warmup-min B --warmup B   ... but at least/most B batches (default 2, 40)\n" +
        "  --warmup-seconds S ... and at most S seconds (default 60)\n" +
        "  --server-gc        run the echo sample with DOTNET_gcServer=1 (it ships with workstation GC)\n" +
        "  --jit              run the echo sample's JIT-compiled build (dotnet EchoServer.dll) instead of its\n" +
        "                     Native AOT executable (dotnet publish), the deployment docs/benchmarks.md recommends\n" +
        "  --no-build         do not build or publish samples/EchoServer (needs its Release build or AOT publish)\n" +
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

    public int LatencyHandshakes { get; set; } = 2000;

    public int LatencyInFlight { get; set; } = 600;

    public int LatencyDelayMs { get; set; } = 100;

    public int FloodRate { get; set; } = 200;

    public int FloodLeadSeconds { get; set; } = 6;

    public int FloodHandshakes { get; set; } = 200;

    public int FloodInFlight { get; set; } = 10;

    public int MaxHandshakes { get; set; } = 1024;

    public int StormClients { get; set; } = 500;

    public int MigrationSessions { get; set; } = 1000;

    public int? StormLookupTimeoutMs { get; set; }

    public bool NoRsa { get; set; }

    public bool ServerGc { get; set; }

    /// <summary>Run the echo sample's JIT-compiled build rather than its Native AOT executable.</summary>
    public bool Jit { get; set; }

    public int MaxWarmupBatches { get; set; } = 40;

    public int MinWarmupBatches { get; set; } = 2;

    public int WarmupJitMethods { get; set; } = 10;

    public int WarmupQuietBatches { get; set; } = 2;

    public int WarmupSeconds { get; set; } = 60;

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
                case "handshake" or "echo" or "sessions" or "contention" or "latency" or "flood" or "restart-storm" or "migration": o.Scenarios.Add(a); break;
                case "--storm-clients": o.StormClients = Int(); break;
                case "--migration-sessions": o.MigrationSessions = Int(); break;
                case "--storm-lookup-timeout": o.StormLookupTimeoutMs = Int(); break;
                case "--handshakes": o.Handshakes = Int(); break;
                case "--concurrency": o.Concurrency = Int(); break;
                case "--echo-conns": o.EchoConnections = Int(); break;
                case "--echo-messages": o.EchoMessages = Int(); break;
                case "--echo-size": o.EchoSize = Math.Max(16, Int()); break;
                case "--sessions": o.Sessions = Int(); break;
                case "--keep": o.KeepSeconds = Int(); break;
                case "--contention-n": o.ContentionHandshakes = Int(); break;
                case "--contention-c": o.ContentionInFlight = Int(); break;
                case "--latency-n": o.LatencyHandshakes = Int(); break;
                case "--latency-c": o.LatencyInFlight = Int(); break;
                case "--latency-delay-ms": o.LatencyDelayMs = Int(); break;
                case "--flood-rate": o.FloodRate = Int(); break;
                case "--flood-lead": o.FloodLeadSeconds = Int(); break;
                case "--flood-n": o.FloodHandshakes = Int(); break;
                case "--flood-c": o.FloodInFlight = Int(); break;
                case "--max-handshakes": o.MaxHandshakes = Int(); break;
                case "--no-rsa": o.NoRsa = true; break;
                case "--server-gc": o.ServerGc = true; break;
                case "--jit": o.Jit = true; break;
                case "--warmup": o.MaxWarmupBatches = Int(); break;
                case "--warmup-min": o.MinWarmupBatches = Int(); break;
                case "--warmup-jit": o.WarmupJitMethods = Int(); break;
                case "--warmup-seconds": o.WarmupSeconds = Int(); break;
                case "--warmup-quiet": o.WarmupQuietBatches = Int(); break;
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
