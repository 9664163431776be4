using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>
/// GnuTLS's command-line server (<c>gnutls-serv --udp --echo</c>, package gnutls-bin) as a DTLS 1.2 peer for our
/// client. It serves one client at a time and wedges for good when a client vanishes without close_notify, so every
/// test starts its own and talks to it with one client after the other. It has no bind-address option: it listens on
/// 0.0.0.0 and :: at the port given, which is chosen free here (port 0 would give each family another port and print
/// neither). Missing gnutls-serv is an error, not a skip: CI installs gnutls-bin.
/// </summary>
internal static class GnuTlsServ
{
    private static readonly Lazy<string?> s_path = new(() => ExternalProcess.FindOnPath("gnutls-serv"));

    private static int s_servers;

    public static string Path => s_path.Value ?? throw new InvalidOperationException(
        "The gnutls-serv command-line tool is not on PATH, and the GnuTLS interop tests need it as the DTLS server. "
        + "Install it (Debian/Ubuntu: apt-get install gnutls-bin; .ci/run does this in CI).");

    /// <summary>
    /// Starts <c>gnutls-serv --udp --echo -p PORT --priority PRIORITY</c> plus <paramref name="arguments"/> and waits
    /// until it listens; returns it with its port. Another program taking the port between our probe and its bind is
    /// retried with another port.
    /// </summary>
    public static async Task<(ExternalProcess Server, int Port)> StartAsync(string priority, ITestOutputHelper? output, TimeSpan timeout,
        params string[] arguments)
    {
        for (int attempt = 1; ; attempt++)
        {
            int port = FreeUdpPort();
            string portText = port.ToString(CultureInfo.InvariantCulture);
            int number = Interlocked.Increment(ref s_servers);
            var server = ExternalProcess.Start($"gnutls-serv#{number}", Path,
                ["--udp", "--echo", "-p", portText, "--priority", priority, .. arguments], output);
            try
            {
                // It reports on standard error (unbuffered); both families listen once the IPv6 line is there.
                await server.WaitForErrorLineAsync(l => l.StartsWith($"UDP Echo Server listening on IPv6 :: port {portText}...done", StringComparison.Ordinal),
                    timeout, "its listening line");
                return (server, port);
            }
            catch (EndOfStreamException) when (attempt < 3)
            {
                // It exited before listening: the port was taken meanwhile. Try another one.
                await server.DisposeAsync();
            }
            catch
            {
                await server.DisposeAsync();
                throw;
            }
        }
    }

    /// <summary>A UDP port free on both IPv4 and IPv6 now (a dual-stack socket holds it for both while it is probed).</summary>
    private static int FreeUdpPort()
    {
        using var probe = new Socket(AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp) { DualMode = true };
        probe.Bind(new IPEndPoint(IPAddress.IPv6Any, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }
}
