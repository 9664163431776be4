using System.Globalization;
using System.Net;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Benchmarks;

/// <summary>'latency': a burst of handshakes over a network with a real round-trip time.</summary>
internal static partial class Program
{
    /// <summary>
    /// <c>--latency-n</c> handshakes, <c>--latency-c</c> in flight, through a <see cref="LatencyRelay"/> in this process
    /// that adds <c>--latency-delay-ms</c> each way (dtls_load → 127.0.0.1:relay → the server). A handshake spends most
    /// of its time waiting for the peer, so many are in progress while few compute: the server's capacity has to be
    /// bounded by CPU, not by threads. Ours is also probed over HTTP (status page, every 20 ms) during the burst.
    /// </summary>
    private static List<Figure> Latency(Tools t, Options o)
    {
        var m = new Dictionary<bool, LoadRun>();
        var relayCpu = new Dictionary<bool, double>();
        var drops = new Dictionary<bool, long>();
        List<double> http = [];
        int httpErrors = 0;
        string args = $"-n {o.LatencyHandshakes} -c {o.LatencyInFlight} -t 20000";
        var inv = CultureInfo.InvariantCulture;
        foreach (bool ours in Alternate(o))
        {
            using var server = Server.Start(t, ours, "server.pem", "server.key", ServerSettings(o));
            WarmUp(t, server, o, $"-n 500 -c {o.Concurrency}", r => r.Kv("ok"));
            var relay = new LatencyRelay(new IPEndPoint(IPAddress.Loopback, server.Port), TimeSpan.FromMilliseconds(o.LatencyDelayMs));
            try
            {
                long cpu0 = ProcCpuTicks(server.Pid), self0 = ProcCpuTicks(Environment.ProcessId);
                long drops0 = UdpSocketDrops(server.Port), rcvbuf0 = UdpReceiveBufferErrors();
                var run = StartLoad(t, server, args, relay.EndPoint.Port);
                if (ours)
                {
                    (http, httpErrors) = ProbeStatus(server, () => !run.Process.HasExited);
                }
                else if (!run.Process.WaitForExit(600_000))
                {
                    run.Process.Kill();
                }

                var lr = FinishLoad(run, "latency");
                lr.CpuSeconds = (ProcCpuTicks(server.Pid) - cpu0) / (double)t.ClkTck;
                relayCpu[ours] = (ProcCpuTicks(Environment.ProcessId) - self0) / (double)t.ClkTck;
                drops[ours] = UdpSocketDrops(server.Port) - drops0;
                long rcvbufErrors = UdpReceiveBufferErrors() - rcvbuf0;
                m[ours] = lr;
                string probes = ours ? $" http_probes={http.Count} http_errors={httpErrors}" : "";
                Console.Error.WriteLine(
                    $"  {(ours ? "ours" : "ref ")} latency {args} via relay ({o.LatencyDelayMs} ms each way): {lr.Raw} " +
                    $"server_cpu_s={lr.CpuSeconds.ToString("F2", inv)} relay_cpu_s={relayCpu[ours].ToString("F2", inv)} " +
                    $"relay_clients={relay.Clients} relay_datagrams={relay.DatagramsToServer}/{relay.DatagramsToClients} " +
                    $"server_socket_drops={drops[ours]} udp_rcvbuf_errors={rcvbufErrors}{probes}");
                if (server.HasExited)
                {
                    Console.Error.WriteLine($"  latency: the server EXITED during the run: {server.ExitDescription()}");
                }
            }
            finally
            {
                relay.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }

        return
        [
            Fig("latency", "latency_hs_p50_us", "µs", m, r => r.Kv("hs_p50_us"), lower: true),
            Fig("latency", "latency_hs_p99_us", "µs", m, r => r.Kv("hs_p99_us"), lower: true),
            Fig("latency", "latency_hs_per_s", "1/s", m, r => r.Kv("hs_per_s"), lower: false),
            Fig("latency", "latency_hs_ok", "count", m, r => r.Kv("ok"), lower: false),
            Fig("latency", "latency_hs_failed", "count", m, r => r.Kv("fail"), lower: true),
            Fig("latency", "latency_cpu_us", "µs CPU", m, r => r.CpuSeconds * 1e6 / r.Kv("ok"), lower: true),
            Fig2("latency", "latency_relay_cpu_s", "s CPU", relayCpu, x => x, lower: true),
            Fig2("latency", "latency_server_socket_drops", "datagrams", drops, x => x, lower: true),
            new Figure("latency", "latency_http_p50_ms", "ms", Pct(http, 50), null, true),
            new Figure("latency", "latency_http_p99_ms", "ms", Pct(http, 99), null, true),
            new Figure("latency", "latency_http_max_ms", "ms", http.Count == 0 ? double.NaN : http.Max(), null, true),
            new Figure("latency", "latency_http_errors", "count", httpErrors, null, true),
        ];
    }

    /// <summary>
    /// Our server's settings for 'latency' and 'flood': <c>MaxConcurrentHandshakes</c> from <c>--max-handshakes</c>
    /// (default 1,024, the library's default), whatever the sample's appsettings.json says.
    /// </summary>
    private static Dictionary<string, string> ServerSettings(Options o) => new(StringComparer.Ordinal)
    {
        ["Dtls__MaxConcurrentHandshakes"] = o.MaxHandshakes.ToString(CultureInfo.InvariantCulture),
    };
}
