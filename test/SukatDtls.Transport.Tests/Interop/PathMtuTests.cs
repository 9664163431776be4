using System.Diagnostics;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Interop;

/// <summary>
/// A real path with a small MTU: a network namespace of the test's own whose loopback has an MTU of 600 bytes. The echo
/// sample runs in it with MaxDatagramSize 1,400, far above the path; the transport forbids IP fragmentation, so it must
/// learn the path MTU from the kernel (or from EMSGSIZE) and send smaller datagrams. openssl s_client, in the same
/// namespace, is the peer. Needs root and iproute2 (CI has both).
/// </summary>
public sealed class PathMtuTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_600_byte_path_MTU_is_honoured_without_IP_fragmentation()
    {
        string ns = $"sukat-mtu-{Environment.ProcessId}-{Guid.NewGuid():N}"[..30];
        Run("ip", "netns", "add", ns);
        try
        {
            Run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "mtu", "600", "up");
            long fragmentsBefore = FragmentsCreated(ns);

            string sample = SamplePrograms.Locate("EchoServer", "EchoServer");
            await using var server = ExternalProcess.Start("echo-server@mtu600", "ip",
                ["netns", "exec", ns, SamplePrograms.DotNetHost(), sample, "--port", "0", "--status-port", "0"], output,
                workingDirectory: Path.GetDirectoryName(sample),
                environment: new Dictionary<string, string?>
                {
                    ["Dtls__MaxDatagramSize"] = "1400",

                    // An RSA certificate makes the server's flight (ServerHello, Certificate, ServerKeyExchange) well
                    // over 600 bytes: it must be cut to the path, not to MaxDatagramSize.
                    ["Dtls__CertificatePath"] = TestCertificates.ServerRsaPem,
                    ["Dtls__KeyPath"] = TestCertificates.ServerRsaKey,
                    ["ASPNETCORE_URLS"] = null,
                    ["DOTNET_NOLOGO"] = "1",
                });
            string ready = await server.ReadLineAsync(Step, line => line.StartsWith("Hosting at: ", StringComparison.Ordinal), "Hosting at");
            string port = ready[(ready.LastIndexOf(':') + 1)..].Trim();

            // A short line: it proves the handshake finished, and openssl sends it in one small datagram (openssl itself
            // does not forbid IP fragmentation, so a long line would be split by the IP layer on its side).
            await using var client = ExternalProcess.Start("s_client@mtu600", "ip",
                ["netns", "exec", ns, OpenSslCli.Path, "s_client", "-dtls1_2", "-connect", $"127.0.0.1:{port}", "-quiet"], output);
            string line = new('p', 200);
            await client.WriteLineAsync(line);
            Assert.Equal(line, await client.ReadLineAsync(Step, what: "the echo"));

            // Nothing of the server's was split by the IP layer: its flight went out in datagrams that fit the path.
            Assert.Equal(fragmentsBefore, FragmentsCreated(ns));
        }
        finally
        {
            Run("ip", "netns", "del", ns);
        }
    }

    /// <summary>The namespace's IP FragCreates counter (/proc/net/snmp): datagrams the IP layer had to split.</summary>
    private static long FragmentsCreated(string ns)
    {
        string[] snmp = Run("ip", "netns", "exec", ns, "cat", "/proc/net/snmp").Split('\n');
        var names = snmp.First(l => l.StartsWith("Ip: Forwarding", StringComparison.Ordinal)).Split(' ');
        var values = snmp.First(l => l.StartsWith("Ip: ", StringComparison.Ordinal) && !l.StartsWith("Ip: Forwarding", StringComparison.Ordinal)).Split(' ');
        return long.Parse(values[Array.IndexOf(names, "FragCreates")], System.Globalization.CultureInfo.InvariantCulture);
    }

    private static string Run(string file, params string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"cannot start {file}");
        string stdout = process.StandardOutput.ReadToEnd();
        string stderr = process.StandardError.ReadToEnd();
        if (!process.WaitForExit(30_000) || process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} failed: {stderr.Trim()}");
        }

        return stdout;
    }
}
