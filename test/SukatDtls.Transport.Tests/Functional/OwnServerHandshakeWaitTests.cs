using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>
/// How the server's own ECDHE handshake waits for the rest of the client's flight once the ClientKeyExchange came: by
/// sleeping until the Finished or the handshake timeout, not by waking every millisecond. Counted in the handshake
/// threads' context switches (Linux: <c>/proc/self/task</c>), so it runs alone in the process.
/// </summary>
[Collection(ProcessWideMeasurements.Name)]
public sealed class OwnServerHandshakeWaitTests(ITestOutputHelper output)
{
    // The server's handshake threads' name (HandshakeScheduler), as /proc shows it (at most 15 characters).
    private const string HandshakeThreadName = "DTLS handshake";

    /// <summary>Context switches so far of each live server handshake thread, by thread id.</summary>
    private static Dictionary<int, long> HandshakeThreadSwitches()
    {
        var switches = new Dictionary<int, long>();
        foreach (string task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            try
            {
                if (File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n') != HandshakeThreadName)
                {
                    continue;
                }

                long count = 0;
                foreach (string line in File.ReadLines(Path.Combine(task, "status")))
                {
                    if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal) || line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                    {
                        count += long.Parse(line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim(), CultureInfo.InvariantCulture);
                    }
                }

                switches[int.Parse(Path.GetFileName(task), CultureInfo.InvariantCulture)] = count;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The thread ended between the listing and the read.
            }
        }

        return switches;
    }

    [Fact]
    public async Task After_the_key_exchange_the_handshake_sleeps_until_the_Finished_or_its_timeout()
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, o =>
        {
            // The retransmission timeout runs out long before the handshake's: the wait after it is what is counted.
            o.HandshakeRetransmissionTimeout = TimeSpan.FromMilliseconds(100);
            o.HandshakeTimeout = TimeSpan.FromSeconds(2);
        }, configureServices: s => s.AddSingleton(new ConnectionObserver()));
        var before = HandshakeThreadSwitches();

        // The client's Finished is lost, and the client retransmits nothing: the server waits for it until its timeout.
        using var client = ScriptedDtlsClient.Create(host.DtlsEndPoint, new ScriptedClientOptions { OmitFinished = true, ReceiveTimeout = TimeSpan.FromMilliseconds(200) });
        Assert.True((await client.HandshakeAsync()).TimedOut);
        // Counted before it is logged: the log line is the later of the two.
        await Wait.UntilAsync(() => host.Listener.Statistics.HandshakesFailed == 1
            && host.Logs.Entries.Any(e => e.EventId.Id == 5 && e.Message.Contains("timed out", StringComparison.Ordinal)));

        // The handshake's thread is parked now (and lives on for the idle lifetime, 30 s): its count is complete. A few
        // switches per received datagram and wait; a wake-up every millisecond for 1.9 s would be hundreds.
        long switches = HandshakeThreadSwitches().Sum(t => t.Value - before.GetValueOrDefault(t.Key));
        output.WriteLine($"{switches} context switches of the handshake threads");
        Assert.InRange(switches, 1, 100);
    }
}
