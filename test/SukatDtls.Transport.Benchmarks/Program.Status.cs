using System.Diagnostics;
using System.Text.Json;

namespace SukatDtls.Transport.Benchmarks;

/// <summary>Reading our server's own figures from the echo sample's status page (<c>GET /status</c>).</summary>
internal static partial class Program
{
    // The runtime figures of the status page (samples/EchoServer/README.md): counters since the server started.
    private const string GcAllocatedBytes = "gcAllocatedBytes";
    private const string GcGen0Collections = "gcGen0Collections";
    private const string GcGen2Collections = "gcGen2Collections";
    private const string GcPauseMilliseconds = "gcPauseMilliseconds";
    private const string JitCompiledMethods = "jitCompiledMethods";
    private const string JitCompilationMilliseconds = "jitCompilationMilliseconds";

    private static readonly HttpClient StatusHttp = new() { Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>
    /// The numeric figures of our server's <c>/status</c>, or null for the reference (no status page) or when the page
    /// cannot be read (a warning goes to stderr; the figures that need it come out NaN).
    /// </summary>
    private static Dictionary<string, double>? ReadStatus(Server s)
    {
        if (s.StatusUrl is null)
        {
            return null;
        }

        try
        {
            string json = StatusHttp.GetStringAsync(new Uri(s.StatusUrl, "status")).GetAwaiter().GetResult();
            using var doc = JsonDocument.Parse(json);
            var d = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (p.Value.ValueKind == JsonValueKind.Number)
                {
                    d[p.Name] = p.Value.GetDouble();
                }
            }

            return d;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException)
        {
            Console.Error.WriteLine($"  warning: cannot read {s.StatusUrl}status: {e.Message}");
            return null;
        }
    }

    /// <summary>after − before for every figure both have (nothing when either is null).</summary>
    private static void Subtract(Dictionary<string, double>? before, Dictionary<string, double>? after, Dictionary<string, double> into)
    {
        if (before is null || after is null)
        {
            return;
        }

        foreach (var (k, v) in after)
        {
            if (before.TryGetValue(k, out double b))
            {
                into[k] = v - b;
            }
        }
    }

    private static double StatusValue(Dictionary<string, double>? d, string key) => d is not null && d.TryGetValue(key, out double v) ? v : double.NaN;

    /// <summary>
    /// Reads the status page often enough that its own code is compiled and tiered up (tier 0, instrumented tier 0,
    /// tier 1: about 30 calls per step, counted only once no new tier-0 code appeared for 100 ms) before the JIT
    /// counts of the warm-up start, so that reading the page between batches does not itself show up as JIT activity.
    /// </summary>
    private static void PrimeStatusPage(Server s)
    {
        if (s.StatusUrl is null)
        {
            return;
        }

        for (int round = 0; round < 3; round++)
        {
            for (int i = 0; i < 40; i++)
            {
                if (ReadStatus(s) is null)
                {
                    return;
                }
            }

            Thread.Sleep(200);
        }
    }

    /// <summary>
    /// Times <c>GET /status</c> on our server every 20 ms while <paramref name="running"/> holds: the latencies in ms
    /// of the requests that succeeded, and how many failed (an HTTP error or the 30 s client timeout). Stops early if
    /// the server exits.
    /// </summary>
    private static (List<double> Milliseconds, int Errors) ProbeStatus(Server s, Func<bool> running)
    {
        Uri status = new(s.StatusUrl ?? throw new InvalidOperationException("the server has no status page"), "status");
        var lat = new List<double>();
        int errors = 0;
        while (running())
        {
            var sw = Stopwatch.StartNew();
            try
            {
                StatusHttp.GetStringAsync(status).GetAwaiter().GetResult();
                lat.Add(sw.Elapsed.TotalMilliseconds);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                errors++;
                if (s.HasExited)
                {
                    break;
                }
            }

            Thread.Sleep(20);
        }

        return (lat, errors);
    }
}
