using System.Globalization;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Interop;

/// <summary>
/// The echo sample as its own process, driven by the real <c>openssl s_client</c> exactly as the README shows.
/// openssl must be installed (CI installs it); without it these tests fail, saying so.
/// </summary>
public sealed class OpenSslEchoSampleTests
{
    /// <summary>Upper bound for one step (start, handshake plus echo); each normally takes milliseconds.</summary>
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(20);

    private readonly ITestOutputHelper _output;

    public OpenSslEchoSampleTests(ITestOutputHelper output)
    {
        _output = output;

        // Resolved first: without openssl every test fails at once, saying what is missing.
        output.WriteLine($"openssl: {OpenSslCli.Path}");
    }

    [Fact]
    public async Task Openssl_s_client_over_IPv4_gets_each_line_echoed()
    {
        await using var server = await EchoSampleProcess.StartAsync(_output);
        await using var client = OpenSslCli.StartDtlsClient($"127.0.0.1:{server.Port}", _output);

        string[] lines =
        [
            "hello over DTLS",
            "a second line",
            "spaces,  punctuation; UTF-8: \u00e9\u00fc\u2713",
            new string('x', 1000),
        ];
        foreach (string line in lines)
        {
            await client.WriteLineAsync(line);
            Assert.Equal(line, await client.ReadLineAsync(Step, what: $"the echo of '{Abbreviate(line)}'"));
        }

        // The dual-stack [::] listener sees the IPv4 client as an IPv4-mapped address.
        await server.Process.WaitForLineAsync(l => l.Contains("from [::ffff:127.0.0.1]:", StringComparison.Ordinal)
            && l.Contains("established", StringComparison.Ordinal), Step, "the connection log line");

        await client.KillAsync();
        Assert.Equal(lines, client.StandardOutputLines);
        Assert.Empty(server.ErrorLogLines);
    }

    [Fact]
    public async Task Twenty_concurrent_openssl_clients_each_get_back_exactly_their_own_lines()
    {
        const int Clients = 20;
        const int LinesPerClient = 3;
        await using var server = await EchoSampleProcess.StartAsync(_output);

        var clients = new List<ExternalProcess>();
        try
        {
            for (int i = 0; i < Clients; i++)
            {
                clients.Add(OpenSslCli.StartDtlsClient($"127.0.0.1:{server.Port}", _output));
            }

            // Unique per client and per run, so that any cross-talk shows.
            var expected = clients.Select((_, i) => Enumerable.Range(1, LinesPerClient)
                .Select(j => string.Create(CultureInfo.InvariantCulture, $"client {i + 1:D2} line {j} {Guid.NewGuid():N}"))
                .ToArray()).ToArray();

            await Task.WhenAll(clients.Select(async (client, i) =>
            {
                foreach (string line in expected[i])
                {
                    await client.WriteLineAsync(line);
                    Assert.Equal(line, await client.ReadLineAsync(Step, what: $"the echo of '{line}'"));
                }
            }));

            await server.Process.WaitForLinesAsync(l => l.Contains(" established (", StringComparison.Ordinal), Clients, Step,
                "connection log");

            // Killing closes standard output: whatever each client received is now in its lines, and it is only its own.
            await Task.WhenAll(clients.Select(c => c.KillAsync()));
            for (int i = 0; i < Clients; i++)
            {
                Assert.Equal(expected[i], clients[i].StandardOutputLines);
            }
        }
        finally
        {
            await Task.WhenAll(clients.Select(c => c.DisposeAsync().AsTask()));
        }

        var established = server.Process.StandardOutputLines.Where(l => l.Contains(" established (", StringComparison.Ordinal)).ToArray();
        Assert.Equal(Clients, established.Length);
        Assert.Empty(server.ErrorLogLines);
    }

    [Fact]
    public async Task Openssl_s_client_over_IPv6_loopback_verifies_the_certificate_and_gets_lines_echoed()
    {
        await using var server = await EchoSampleProcess.StartAsync(_output);

        // "[::1]:PORT" is the form openssl parses for an IPv6 literal; -verify_ip checks the certificate's SAN for ::1,
        // and -verify_return_error makes any verification failure end the handshake.
        await using var client = OpenSslCli.StartDtlsClient($"[::1]:{server.Port}", _output,
            "-CAfile", TestCertificates.CaPem, "-verify_return_error", "-verify_ip", "::1");

        string[] lines = ["over IPv6", "still over IPv6"];
        foreach (string line in lines)
        {
            await client.WriteLineAsync(line);
            Assert.Equal(line, await client.ReadLineAsync(Step, what: $"the echo of '{line}'"));
        }

        await server.Process.WaitForLineAsync(l => l.Contains("from [::1]:", StringComparison.Ordinal)
            && l.Contains("established", StringComparison.Ordinal), Step, "the IPv6 connection log line");
        Assert.Contains(client.StandardErrorLines, l => l.Contains("verify return:1", StringComparison.Ordinal));
        Assert.DoesNotContain(client.StandardErrorLines, l => l.Contains("verify error", StringComparison.Ordinal));

        await client.KillAsync();
        Assert.Equal(lines, client.StandardOutputLines);
        Assert.Empty(server.ErrorLogLines);
    }

    // A peer sizes its records by its own path MTU: up to 2^14 bytes, more than we send in one record. The sample
    // receives with a MaxReceiveRecordSize buffer and echoes such a record in MaxRecordSize pieces.
    [Fact]
    public async Task A_line_longer_than_the_send_limit_is_echoed_too()
    {
        await using var server = await EchoSampleProcess.StartAsync(_output);
        await using var client = OpenSslCli.StartDtlsClient($"127.0.0.1:{server.Port}", _output);

        // openssl sends the line as one record of 1,501 bytes: legal DTLS (up to 2^14), and it fits one datagram.
        string[] lines = [new string('y', 1500), "after the long line"];
        foreach (string line in lines)
        {
            await client.WriteLineAsync(line);
            Assert.Equal(line, await client.ReadLineAsync(Step, what: $"the echo of '{Abbreviate(line)}'"));
        }

        Assert.Empty(server.ErrorLogLines);
    }

    private static string Abbreviate(string line) => line.Length <= 40 ? line : line[..40] + "...";
}
