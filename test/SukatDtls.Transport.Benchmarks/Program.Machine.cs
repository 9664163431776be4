using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace SukatDtls.Transport.Benchmarks;

/// <summary>What /proc and the system say about a process and the machine.</summary>
internal static partial class Program
{
    private static long ProcCpuTicks(int pid)
    {
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        string[] f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // After "pid (comm) " the fields start at 3 (state); utime is field 14, stime 15.
        return long.Parse(f[14 - 3], Inv) + long.Parse(f[15 - 3], Inv);
    }

    /// <summary>
    /// Context switches of the process so far, voluntary and involuntary, summed over its live threads
    /// (<c>/proc/PID/task/*/status</c>). A thread that has exited takes its count with it: over a measured run only
    /// threads that end during it are missed (the handshake threads and thread-pool workers outlive a run).
    /// </summary>
    private static long ProcContextSwitches(int pid)
    {
        long switches = 0;
        foreach (string task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
        {
            try
            {
                foreach (string line in File.ReadLines(Path.Combine(task, "status")))
                {
                    if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal) || line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                    {
                        switches += long.Parse(line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim(), Inv);
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The thread exited between the listing and the read.
            }
        }

        return switches;
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

    /// <summary>Datagrams the kernel dropped on the live UDP sockets bound to <paramref name="port"/> (shared with the tests).</summary>
    private static long UdpSocketDrops(int port) => Tests.Infrastructure.UdpDrops.ForPort(port);

    /// <summary>UDP datagrams dropped for a full receive buffer on any socket of this network namespace (/proc/net/snmp).</summary>
    private static long UdpReceiveBufferErrors()
    {
        string[] lines = [.. File.ReadLines("/proc/net/snmp").Where(l => l.StartsWith("Udp: ", StringComparison.Ordinal))];
        if (lines.Length < 2)
        {
            return 0;
        }

        int i = Array.IndexOf(lines[0].Split(' '), "RcvbufErrors");
        return i < 0 ? 0 : long.Parse(lines[1].Split(' ')[i], Inv);
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
}
