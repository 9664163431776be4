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

    /// <param name="receiveLoops">
    /// The receive loops read the peer socket: the handshake waits between datagrams, on a timer, and no handshake thread
    /// takes part; else a handshake thread waits on the socket.
    /// </param>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task After_the_key_exchange_the_handshake_sleeps_until_the_Finished_or_its_timeout(bool receiveLoops)
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
            o.UseOwnReceiveLoops = receiveLoops;
        }, configureServices: s => s.AddSingleton(new ConnectionObserver()));
        var handshakeThreadsBefore = HandshakeThreadSwitches();

        // The client's Finished is lost, and the client retransmits nothing: the server waits for it until its timeout.
        using var client = ScriptedDtlsClient.Create(host.DtlsEndPoint, new ScriptedClientOptions { OmitFinished = true, ReceiveTimeout = TimeSpan.FromMilliseconds(200) });
        Assert.True((await client.HandshakeAsync()).TimedOut);
        // Counted before it is logged: the log line is the later of the two.
        await Wait.UntilAsync(() => host.Listener.Statistics.HandshakesFailed == 1
            && host.Logs.Entries.Any(e => e.EventId.Id == 5 && e.Message.Contains("timed out", StringComparison.Ordinal)));

        // A handshake thread is parked now (and lives on for the idle lifetime, 30 s): its count is complete. A few
        // switches per received datagram and wait; a wake-up every millisecond for 1.9 s would be hundreds.
        long handshakeThreads = HandshakeThreadSwitches().Sum(t => t.Value - handshakeThreadsBefore.GetValueOrDefault(t.Key));
        output.WriteLine($"{handshakeThreads} context switches of the handshake threads");
        Assert.Equal(1, host.Listener.Statistics.HandshakesStarted);
        if (receiveLoops)
        {
            // No handshake thread took part: the first flight was computed on the listener's loop, the rest waited on a
            // timer (due at the resend time, when there was nothing to resend, then at the timeout).
            Assert.Equal(0, handshakeThreads);
        }
        else
        {
            Assert.InRange(handshakeThreads, 1, 100);
        }
    }
}
