using System.Globalization;
using System.Net;

namespace SukatDtls.Transport.Benchmarks;

/// <summary>'flood': legitimate handshakes while silent peers fill the server's handshakes in progress.</summary>
internal static partial class Program
{
    /// <summary>The flood's source: another /24 than dtls_load's 127.0.0.1 (Linux loopback answers all of 127/8).</summary>
    private static readonly IPAddress FloodSource = IPAddress.Parse("127.0.1.1");

    /// <summary>How long the flood may go on after the lead while the legitimate run lasts (bounds its sockets).</summary>
    private const int FloodTailSeconds = 30;

    /// <summary>
    /// <see cref="SilentFlood"/> from 127.0.1.1 at <c>--flood-rate</c> per second; after <c>--flood-lead</c> seconds
    /// (enough for the flood to fill our 1,024 handshakes in progress at the default rate) dtls_load makes
    /// <c>--flood-n</c> legitimate handshakes, <c>--flood-c</c> in flight, from 127.0.0.1; the flood goes on until they
    /// are done (at most <see cref="FloodTailSeconds"/> more), and every silent socket stays open until then. Server CPU is read over the whole flood and over the
    /// lead alone (the silent peers' own cost).
    /// </summary>
    private static List<Figure> Flood(Tools t, Options o)
    {
        var inv = CultureInfo.InvariantCulture;
        var res = new Dictionary<bool, FloodRun>();
        string args = $"-n {o.FloodHandshakes} -c {o.FloodInFlight} -t 20000";
        foreach (bool ours in Alternate(o))
        {
            using var server = Server.Start(t, ours, "server.pem", "server.key", ServerSettings(o));
            WarmUp(t, server, o, $"-n 500 -c {o.Concurrency}", r => r.Kv("ok"));
            var status0 = ReadStatus(server);

            // Bounded (a socket each, open to the end): the lead plus 30 s at the rate; the legitimate run takes seconds.
            int maxPeers = o.FloodRate * (o.FloodLeadSeconds + FloodTailSeconds);
            var flood = new SilentFlood(new IPEndPoint(IPAddress.Loopback, server.Port), FloodSource, o.FloodRate, maxPeers);
            LoadRun legit;
            double wall, leadCpu, totalCpu;
            int silentInLead, silent, unanswered;
            long drops;
            try
            {
                long cpu0 = ProcCpuTicks(server.Pid), drops0 = UdpSocketDrops(server.Port);
                var clock = System.Diagnostics.Stopwatch.StartNew();
                flood.Start();
                Thread.Sleep(TimeSpan.FromSeconds(o.FloodLeadSeconds));
                leadCpu = (ProcCpuTicks(server.Pid) - cpu0) / (double)t.ClkTck;
                silentInLead = flood.Silent;
                legit = Load(t, server, args, 600);
                flood.StopSendingAsync().GetAwaiter().GetResult();
                totalCpu = (ProcCpuTicks(server.Pid) - cpu0) / (double)t.ClkTck;
                wall = clock.Elapsed.TotalSeconds;
                drops = UdpSocketDrops(server.Port) - drops0;
                silent = flood.Silent;
                unanswered = flood.Unanswered;
            }
            finally
            {
                flood.DisposeAsync().AsTask().GetAwaiter().GetResult(); // closes every silent socket
            }

            var delta = new Dictionary<string, double>(StringComparer.Ordinal);
            Subtract(status0, ReadStatus(server), delta);
            res[ours] = new FloodRun(legit, silent, unanswered, wall, totalCpu, leadCpu, silentInLead, delta);
            string counters = ours
                ? $" server_handshakes_failed={StatusValue(delta, "handshakesFailed")} refused_peers={StatusValue(delta, "refusedPeers")}"
                : "";
            Console.Error.WriteLine(
                $"  {(ours ? "ours" : "ref ")} flood {o.FloodRate}/s from {FloodSource}, legit {args} after {o.FloodLeadSeconds} s: {legit.Raw} " +
                $"silent={silent} unanswered={unanswered} secs={wall.ToString("F1", inv)} server_cpu_s={totalCpu.ToString("F2", inv)} " +
                $"lead_cpu_s={leadCpu.ToString("F2", inv)} silent_in_lead={silentInLead} server_socket_drops={drops}{counters}");
            if (server.HasExited)
            {
                Console.Error.WriteLine($"  flood: the server EXITED during the run: {server.ExitDescription()}");
            }
        }

        var ourRun = res[true];
        return
        [
            Fig2("flood", "flood_legit_ok", "count", res, r => r.Legit.Kv("ok"), lower: false),
            Fig2("flood", "flood_legit_failed", "count", res, r => r.Legit.Kv("fail"), lower: true),
            Fig2("flood", "flood_legit_p50_us", "µs", res, r => r.Legit.Kv("hs_p50_us"), lower: true),
            Fig2("flood", "flood_legit_p99_us", "µs", res, r => r.Legit.Kv("hs_p99_us"), lower: true),
            Fig2("flood", "flood_silent_peers", "count", res, r => r.Silent, lower: false),
            Fig2("flood", "flood_silent_unanswered", "count", res, r => r.Unanswered, lower: true),
            Fig2("flood", "flood_server_cpu_pct", "% of a core", res, r => r.TotalCpu / r.Seconds * 100, lower: true),
            Fig2("flood", "flood_cpu_us_per_silent_peer", "µs CPU", res, r => r.LeadCpu * 1e6 / Math.Max(1, r.SilentInLead), lower: true),
            new Figure("flood", "flood_server_handshakes_failed", "count", StatusValue(ourRun.Status, "handshakesFailed"), null, true),
            new Figure("flood", "flood_refused_peers", "count", StatusValue(ourRun.Status, "refusedPeers"), null, true),
        ];
    }

    /// <param name="Status">Ours: the status page's figures after the flood minus before it (empty for the reference).</param>
    private sealed record FloodRun(LoadRun Legit, int Silent, int Unanswered, double Seconds, double TotalCpu, double LeadCpu, int SilentInLead, Dictionary<string, double> Status);
}
