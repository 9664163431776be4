using System.Globalization;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>What the kernel dropped on UDP sockets (receive buffer full), from /proc/net/udp and /proc/net/udp6.</summary>
internal static class UdpDrops
{
    /// <summary>
    /// Datagrams dropped on the live UDP sockets bound to local <paramref name="port"/> (the last column of
    /// /proc/net/udp and udp6; every socket on the port, the listening one and its peers' alike). Closed sockets no
    /// longer count, so take the difference over a span in which the sockets stay open.
    /// </summary>
    public static long ForPort(int port) => ForPorts(new HashSet<int> { port });

    /// <summary>As <see cref="ForPort"/>, summed over <paramref name="ports"/> (each file read once, however many ports).</summary>
    public static long ForPorts(IReadOnlySet<int> ports)
    {
        long drops = 0;
        foreach (string file in new[] { "/proc/net/udp", "/proc/net/udp6" })
        {
            if (!File.Exists(file))
            {
                continue;
            }

            foreach (string line in File.ReadLines(file).Skip(1))
            {
                string[] f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f.Length > 12 && ports.Contains(int.Parse(f[1][(f[1].LastIndexOf(':') + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture)))
                {
                    drops += long.Parse(f[^1], CultureInfo.InvariantCulture);
                }
            }
        }

        return drops;
    }
}
