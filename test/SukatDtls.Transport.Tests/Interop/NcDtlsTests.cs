using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Interop;

/// <summary>
/// The nc-dtls sample (samples/NcDtls) as its own process, against openssl's s_server and s_client and against itself:
/// data both ways, close_notify on end of input and on signals, many clients at once, server certificate checks, and
/// one clear stderr line with a non-zero exit code for every kind of bad input. Loopback only; every port is chosen by
/// the system.
/// </summary>
public sealed class NcDtlsTests
{
    /// <summary>Upper bound for one step (a process start, a handshake plus a line); each normally takes well under 1 s.</summary>
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(20);

    private readonly ITestOutputHelper _output;

    public NcDtlsTests(ITestOutputHelper output)
    {
        _output = output;
        output.WriteLine($"openssl: {OpenSslCli.Path}");
    }

    [Fact]
    public async Task Client_and_openssl_s_server_exchange_lines_both_ways_and_end_of_input_sends_close_notify()
    {
        // Port 0: openssl binds a free port itself and names it (a port found free beforehand may be taken meanwhile).
        await using var server = ExternalProcess.Start("s_server", OpenSslCli.Path,
            ["s_server", "-dtls1_2", "-accept", "127.0.0.1:0", "-cert", TestCertificates.ServerPem, "-key", TestCertificates.ServerKey],
            _output);
        int port = await OpenSslCli.AcceptPortAsync(server, Step);

        await using var client = NcDtlsProcess.Start(_output, "client", ["-v", "--ca", TestCertificates.CaPem, "127.0.0.1", Text(port)]);
        string toServer = Unique("from nc-dtls to s_server");
        await client.Process.WriteLineAsync(toServer);
        await server.ReadLineAsync(Step, line => line == toServer, $"'{toServer}'");

        string toClient = Unique("from s_server to nc-dtls");
        await server.WriteLineAsync(toClient);
        Assert.Equal(toClient, await client.Process.ReadLineAsync(Step, what: $"'{toClient}'"));

        // End of standard input: close_notify after the data, exit 0. s_server says DONE when it reads close_notify.
        client.Process.CloseStandardInput();
        Assert.Equal(0, await client.WaitForExitAsync(Step));
        await server.ReadLineAsync(Step, line => line == "DONE", "DONE (close_notify received)");
        Assert.Equal([toClient], client.StandardOutputLines);
    }

    [Fact]
    public async Task Client_presents_its_certificate_to_an_openssl_s_server_that_requires_one()
    {
        await using var server = ExternalProcess.Start("s_server", OpenSslCli.Path,
            ["s_server", "-dtls1_2", "-accept", "127.0.0.1:0", "-cert", TestCertificates.ServerPem, "-key", TestCertificates.ServerKey,
                "-Verify", "1", "-CAfile", TestCertificates.CaPem, "-verify_return_error"],
            _output);
        int port = await OpenSslCli.AcceptPortAsync(server, Step);

        await using (var client = NcDtlsProcess.Start(_output, "client",
            ["-c", TestCertificates.ClientPem, "-k", TestCertificates.ClientKey, "--ca", TestCertificates.CaPem, "127.0.0.1", Text(port)]))
        {
            string line = Unique("with a client certificate");
            await client.Process.WriteLineAsync(line);
            await server.ReadLineAsync(Step, received => received == line, $"'{line}'");
            Assert.Contains("subject=CN = SukatDtls Dev Client", server.StandardOutputLines);
            client.Process.CloseStandardInput();
            Assert.Equal(0, await client.WaitForExitAsync(Step));
            await server.ReadLineAsync(Step, received => received == "DONE", "DONE (close_notify received)");
        }

        // The same server refuses a client without a certificate: one error line, exit code 1.
        var refused = await NcDtlsProcess.RunToExitAsync(_output, "client", Step, "--ca", TestCertificates.CaPem, "127.0.0.1", Text(port));
        await using (refused)
        {
            Assert.Equal(1, refused.ExitCode);
            AssertOneErrorLine(refused, "handshake");
        }
    }

    [Fact]
    public async Task Openssl_s_client_and_the_listener_exchange_lines_both_ways()
    {
        await using var listener = await NcDtlsProcess.StartListenerAsync(_output, Step, "-v", "127.0.0.1", "0");
        Assert.Equal(IPAddress.Loopback, listener.EndPoint!.Address);

        // The listener's default certificate is the development one: s_client verifies it against the dev CA.
        await using var client = OpenSslCli.StartDtlsClient($"127.0.0.1:{listener.Port}", _output,
            "-CAfile", TestCertificates.CaPem, "-verify_return_error", "-verify_ip", "127.0.0.1");

        string toListener = Unique("from s_client to nc-dtls -l");
        await client.WriteLineAsync(toListener);
        await listener.Process.ReadLineAsync(Step, line => line == toListener, $"'{toListener}'");

        string toClient = Unique("from nc-dtls -l to s_client");
        await listener.Process.WriteLineAsync(toClient);
        Assert.Equal(toClient, await client.ReadLineAsync(Step, what: $"'{toClient}'"));

        await client.KillAsync();
        Assert.Equal([toClient], client.StandardOutputLines);
        Assert.Contains(client.StandardErrorLines, line => line.Contains("verify return:1", StringComparison.Ordinal));
        Assert.Equal([$"{NcDtlsProcess.ReadyPrefix}{listener.EndPoint}", toListener], listener.StandardOutputLines);
    }

    [Fact]
    public async Task Client_and_listener_exchange_lines_both_ways_and_end_of_input_closes_the_client_cleanly()
    {
        await using var listener = await NcDtlsProcess.StartListenerAsync(_output, Step, "-v", "127.0.0.1", "0");
        await using var client = NcDtlsProcess.Start(_output, "client", ["-v", "--ca", TestCertificates.CaPem, "127.0.0.1", Text(listener.Port)]);

        string toListener = Unique("from the client");
        await client.Process.WriteLineAsync(toListener);
        await listener.Process.ReadLineAsync(Step, line => line == toListener, $"'{toListener}'");
        await listener.WaitForErrorLineAsync(line => line.Contains(" established (DTLS 1.2, TLS_ECDHE_ECDSA_", StringComparison.Ordinal),
            Step, "the client's 'established' log line");

        string toClient = Unique("from the listener");
        await listener.Process.WriteLineAsync(toClient);
        Assert.Equal(toClient, await client.Process.ReadLineAsync(Step, what: $"'{toClient}'"));

        client.Process.CloseStandardInput();
        Assert.Equal(0, await client.WaitForExitAsync(Step));
        await listener.WaitForErrorLineAsync(line => line.Contains(" closed: the client sent close_notify", StringComparison.Ordinal),
            Step, "the client's 'closed' log line");

        // -v logs the three steps of a client, each with its address.
        foreach (string step in new[] { "connected", "established", "closed" })
        {
            Assert.Contains(listener.StandardErrorLines, line => line.StartsWith("info nc-dtls: client 127.0.0.1:", StringComparison.Ordinal)
                && line.Contains($" {step}", StringComparison.Ordinal));
        }

        Assert.Equal([toClient], client.StandardOutputLines);
        Assert.Equal([$"{NcDtlsProcess.ReadyPrefix}{listener.EndPoint}", toListener], listener.StandardOutputLines);
        Assert.Contains(client.StandardErrorLines, line => line.Contains("end of standard input", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Twenty_concurrent_clients_each_deliver_their_line_to_the_listener_exactly_once()
    {
        const int Clients = 20;

        // 21 .NET processes starting at once on a small machine (2 cores, shared with other test classes) can take
        // longer than the default 10 s handshake timeout: allow a minute (-w 60), and bound the waits accordingly.
        // On an idle machine the whole test takes a few seconds.
        const string HandshakeTimeout = "60";
        var bound = TimeSpan.FromSeconds(90);
        await using var listener = await NcDtlsProcess.StartListenerAsync(_output, Step, "-v", "-w", HandshakeTimeout, "127.0.0.1", "0");
        string[] lines = Enumerable.Range(1, Clients).Select(i => Unique($"client {i:D2}")).ToArray();

        var clients = new List<NcDtlsProcess>();
        try
        {
            foreach (string line in lines)
            {
                var client = NcDtlsProcess.Start(_output, "client", ["-w", HandshakeTimeout, "--ca", TestCertificates.CaPem, "127.0.0.1", Text(listener.Port)]);
                clients.Add(client);
                await client.Process.WriteLineAsync(line);
                client.Process.CloseStandardInput();
            }

            var exitCodes = await Task.WhenAll(clients.Select(client => client.WaitForExitAsync(bound)));
            Assert.All(exitCodes, code => Assert.Equal(0, code));
            await listener.Process.WaitForLinesAsync(line => line.StartsWith("client ", StringComparison.Ordinal), Clients, Step, "the clients' lines");
            await listener.WaitForErrorLinesAsync(line => line.Contains(" closed: the client sent close_notify", StringComparison.Ordinal),
                Clients, Step, "'closed' log lines");
        }
        finally
        {
            await Task.WhenAll(clients.Select(client => client.DisposeAsync().AsTask()));
        }

        // Every line whole and exactly once; nothing else after the Hosting line.
        var received = listener.StandardOutputLines.Skip(1).ToArray();
        Assert.Equal(lines.Order(StringComparer.Ordinal), received.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Server_certificate_is_accepted_with_the_dev_CA_or_insecure_and_rejected_by_system_trust()
    {
        await using var listener = await NcDtlsProcess.StartListenerAsync(_output, Step, "127.0.0.1", "0");
        string port = Text(listener.Port);
        string withCa = Unique("trusted through --ca");
        string insecure = Unique("accepted by --insecure");

        await using var caClient = NcDtlsProcess.Start(_output, "ca-client", ["--ca", TestCertificates.CaPem, "127.0.0.1", port]);
        await using var insecureClient = NcDtlsProcess.Start(_output, "insecure-client", ["--insecure", "127.0.0.1", port]);
        await using var systemTrustClient = NcDtlsProcess.Start(_output, "system-trust-client", ["127.0.0.1", port]);
        await caClient.Process.WriteLineAsync(withCa);
        await insecureClient.Process.WriteLineAsync(insecure);

        await listener.Process.WaitForLineAsync(line => line == withCa, Step, $"'{withCa}'");
        await listener.Process.WaitForLineAsync(line => line == insecure, Step, $"'{insecure}'");
        caClient.Process.CloseStandardInput();
        insecureClient.Process.CloseStandardInput();
        Assert.Equal(0, await caClient.WaitForExitAsync(Step));
        Assert.Equal(0, await insecureClient.WaitForExitAsync(Step));

        // The system trust store does not know the development CA.
        int code = await systemTrustClient.WaitForExitAsync(Step);
        Assert.NotEqual(0, code);
        string error = AssertOneErrorLine(systemTrustClient, "certificate");
        Assert.Contains("not trusted", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_certificate_for_another_purpose_is_rejected_even_when_its_CA_is_trusted()
    {
        // The development client certificate: signed by the dev CA, but for client authentication only, without the
        // address 127.0.0.1.
        await using var listener = await NcDtlsProcess.StartListenerAsync(_output, Step,
            "-c", TestCertificates.ClientPem, "-k", TestCertificates.ClientKey, "127.0.0.1", "0");
        var client = await NcDtlsProcess.RunToExitAsync(_output, "client", Step, "--ca", TestCertificates.CaPem, "127.0.0.1", Text(listener.Port));
        await using (client)
        {
            Assert.Equal(1, client.ExitCode);
            string error = AssertOneErrorLine(client, "certificate");
            Assert.Contains("rejected", error, StringComparison.Ordinal);
            Assert.Empty(client.StandardOutputLines);
        }
    }

    public static TheoryData<string, string[], string> BadFiles => new()
    {
        { "missing certificate file", ["-l", "-c", "/nonexistent/nc-dtls/server.pem", "127.0.0.1", "0"], "cannot read the certificate file '/nonexistent/nc-dtls/server.pem': no such file" },
        { "garbage key file", ["-l", "-c", "{server.pem}", "-k", "{garbage}", "127.0.0.1", "0"], "holds no usable PEM private key" },
        { "key of another certificate", ["-l", "-c", "{server.pem}", "-k", "{client.key}", "127.0.0.1", "0"], "does not match the certificate" },
        { "RSA key for an ECDSA certificate", ["-l", "-c", "{server.pem}", "-k", "{server-rsa.key}", "127.0.0.1", "0"], "does not match the certificate" },
        { "no certificate in the certificate file", ["-l", "-c", "{garbage}", "127.0.0.1", "0"], "holds no PEM certificate" },
        { "missing CA file", ["--ca", "/nonexistent/nc-dtls/ca.pem", "127.0.0.1", "5684"], "cannot read the CA file '/nonexistent/nc-dtls/ca.pem': no such file" },
        { "client certificate without its key", ["-c", "{client.pem}", "--ca", "{ca.pem}", "127.0.0.1", "5684"], "holds no usable PEM private key" },
    };

    [Theory]
    [MemberData(nameof(BadFiles))]
    public async Task A_bad_certificate_or_key_file_is_one_clear_error_line_and_exit_code_1(string what, string[] arguments, string expected)
    {
        _output.WriteLine(what);
        string garbage = Path.Combine(Path.GetTempPath(), $"nc-dtls-garbage-{Guid.NewGuid():N}.pem");
        await File.WriteAllTextAsync(garbage, "this is not PEM\n\u0000\u00ff binary junk\n");
        try
        {
            string[] resolved = arguments.Select(argument => argument switch
            {
                "{garbage}" => garbage,
                ['{', .. var file, '}'] => TestCertificates.Path_(file),
                _ => argument,
            }).ToArray();
            var process = await NcDtlsProcess.RunToExitAsync(_output, "nc-dtls", Step, resolved);
            await using (process)
            {
                Assert.Equal(1, process.ExitCode);
                AssertOneErrorLine(process, expected);
                Assert.Empty(process.StandardOutputLines);
            }
        }
        finally
        {
            File.Delete(garbage);
        }
    }

    [Fact]
    public async Task An_unresolvable_host_fails_at_once()
    {
        var clock = Stopwatch.StartNew();
        var process = await NcDtlsProcess.RunToExitAsync(_output, "client", Step, "--ca", TestCertificates.CaPem, "no-such-host.invalid", "5684");
        await using (process)
        {
            Assert.Equal(1, process.ExitCode);
            AssertOneErrorLine(process, "cannot resolve the host 'no-such-host.invalid'");

            // No resolver is asked (RFC 6761: .invalid never resolves): no DNS timeout, only the process start.
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
        }
    }

    [Fact]
    public async Task Listening_on_a_port_in_use_fails_with_address_in_use()
    {
        // Held without SO_REUSEADDR/SO_REUSEPORT, as any other program would hold it.
        using var holder = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        holder.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        int port = ((IPEndPoint)holder.LocalEndPoint!).Port;

        var process = await NcDtlsProcess.RunToExitAsync(_output, "listener", Step, "-l", "127.0.0.1", Text(port));
        await using (process)
        {
            Assert.Equal(1, process.ExitCode);
            AssertOneErrorLine(process, $"cannot listen on UDP 127.0.0.1:{port}: the address is already in use");
            Assert.Empty(process.StandardOutputLines);
        }
    }

    [Fact]
    public async Task A_server_that_does_not_answer_fails_after_the_w_timeout()
    {
        // Nothing answers on this port: a socket that never reads. It stays bound, so that while the client retransmits
        // its ClientHello the system cannot give the port to a listener of a test running in parallel.
        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        silent.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        int port = ((IPEndPoint)silent.LocalEndPoint!).Port;
        var clock = Stopwatch.StartNew();
        var process = await NcDtlsProcess.RunToExitAsync(_output, "client", Step, "-w", "1", "--ca", TestCertificates.CaPem, "127.0.0.1", Text(port));
        await using (process)
        {
            Assert.Equal(1, process.ExitCode);
            AssertOneErrorLine(process, $"no answer from 127.0.0.1 port {port} within 1 s");
            Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1), $"gave up after {clock.Elapsed}, before the 1 s timeout");
        }
    }

    [Fact]
    public async Task A_closed_port_is_refused_within_a_second_or_two_of_connecting()
    {
        // Nothing bound there: the kernel answers with ICMP port unreachable. No other test uses 127.77.2.0/24, so the
        // port stays closed while tests run in parallel.
        int port;
        using (var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            probe.Bind(new IPEndPoint(IPAddress.Parse("127.77.2.1"), 0));
            port = ((IPEndPoint)probe.LocalEndPoint!).Port;
        }
        await using var client = NcDtlsProcess.Start(_output, "client", ["-v", "--ca", TestCertificates.CaPem, "127.77.2.1", Text(port)]);
        await client.WaitForErrorLineAsync(line => line.Contains($"connecting to 127.77.2.1 port {port}", StringComparison.Ordinal),
            Step, "the 'connecting' log line");

        // From the attempt, not from the process start: the default 10 s handshake timeout is not waited for.
        var clock = Stopwatch.StartNew();
        Assert.Equal(1, await client.WaitForExitAsync(Step));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"refused {clock.Elapsed} after connecting");
        string error = Assert.Single(client.StandardErrorLines, line => line.StartsWith("nc-dtls: ", StringComparison.Ordinal));
        Assert.Equal($"nc-dtls: connection refused by 127.77.2.1 port {port}", error);
        Assert.Empty(client.StandardOutputLines);
    }

    [Theory]
    [InlineData("::1")]
    [InlineData("127.0.0.1")]
    public async Task Client_connects_to_localhost_whether_the_listener_is_on_IPv6_or_IPv4_loopback(string address)
    {
        // localhost is ::1 and 127.0.0.1 whatever /etc/hosts says (RFC 6761); the name is checked against the certificate.
        await using var listener = await NcDtlsProcess.StartListenerAsync(_output, Step, "-v", address, "0");
        await using var client = NcDtlsProcess.Start(_output, "client", ["--ca", TestCertificates.CaPem, "localhost", Text(listener.Port)]);
        string line = Unique($"to localhost on {address}");
        await client.Process.WriteLineAsync(line);
        await listener.Process.ReadLineAsync(Step, received => received == line, $"'{line}'");

        client.Process.CloseStandardInput();
        Assert.Equal(0, await client.WaitForExitAsync(Step));
        Assert.Equal(IPAddress.Parse(address), listener.EndPoint!.Address);
    }

    [Fact]
    public async Task With_cid_the_session_survives_the_clients_port_changing_mid_session()
    {
        // A NAT that rebinds: the proxy sends the client's datagrams on from a new port. With a Connection ID the
        // listener finds the session by it and the lines go on both ways, with no second handshake.
        await using var listener = await NcDtlsProcess.StartListenerAsync(_output, Step, "-v", "127.0.0.1", "0");
        await using var proxy = new ImpairmentProxy(listener.EndPoint!, seed: 9146);
        await using var client = NcDtlsProcess.Start(_output, "client",
            ["-v", "--cid", "--ca", TestCertificates.CaPem, "127.0.0.1", Text(proxy.EndPoint.Port)]);
        await client.WaitForErrorLineAsync(line => line.Contains("the session survives a change", StringComparison.Ordinal), Step, "the granted Connection ID line");

        string before = Unique("before the move");
        await client.Process.WriteLineAsync(before);
        await listener.Process.ReadLineAsync(Step, line => line == before, $"'{before}'");

        proxy.Rebind();
        string after = Unique("after the move");
        await client.Process.WriteLineAsync(after);
        await listener.Process.ReadLineAsync(Step, line => line == after, $"'{after}'");
        string back = Unique("to the moved client");
        await listener.Process.WriteLineAsync(back);
        Assert.Equal(back, await client.Process.ReadLineAsync(Step, what: $"'{back}'"));

        client.Process.CloseStandardInput();
        Assert.Equal(0, await client.WaitForExitAsync(Step));
        Assert.Single(listener.StandardErrorLines, line => line.Contains(" established (", StringComparison.Ordinal)); // one handshake
    }

    public static TheoryData<string[], string> UsageErrors => new()
    {
        { ["--no-such-option", "127.0.0.1", "5684"], "unknown option '--no-such-option'" },
        { ["127.0.0.1"], "a client needs <destination> and <port>" },
        { ["127.0.0.1", "http"], "the port must be a number from 1 to 65535, not 'http'" },
        { ["-l", "--insecure"], "--ca and --insecure are client options" },
        { ["-l", "--cid"], "--cid is a client option" },
        { ["-w", "soon", "127.0.0.1", "5684"], "'soon'" },
    };

    [Theory]
    [MemberData(nameof(UsageErrors))]
    public async Task A_usage_error_prints_the_usage_and_exits_2(string[] arguments, string expected)
    {
        var process = await NcDtlsProcess.RunToExitAsync(_output, "nc-dtls", Step, arguments);
        await using (process)
        {
            Assert.Equal(2, process.ExitCode);
            Assert.Contains(process.StandardErrorLines, line => line.StartsWith("nc-dtls: ", StringComparison.Ordinal)
                && line.Contains(expected, StringComparison.Ordinal));
            Assert.Contains("usage: nc-dtls [options] <destination> <port>", process.StandardErrorLines);
            Assert.DoesNotContain(process.StandardErrorLines, IsStackTraceLine);
            Assert.Empty(process.StandardOutputLines);
        }
    }

    [Fact]
    public async Task Help_describes_the_options_on_standard_output()
    {
        var process = await NcDtlsProcess.RunToExitAsync(_output, "nc-dtls", Step, "--help");
        await using (process)
        {
            Assert.Equal(0, process.ExitCode);
            string help = string.Join('\n', process.StandardOutputLines);
            foreach (string option in new[] { "-l, --listen", "-c, --cert <FILE>", "-k, --pkey <FILE>", "--ca <FILE>", "--insecure", "-w, --timeout <SECONDS>", "-v, --verbose", "-h, --help" })
            {
                Assert.Contains(option, help, StringComparison.Ordinal);
            }

            Assert.Contains("[::]", help, StringComparison.Ordinal);
            Assert.Contains("port 0", help, StringComparison.Ordinal);
            Assert.Empty(process.StandardErrorLines);
        }
    }

    [Fact]
    public async Task Ctrl_C_on_the_client_sends_close_notify_to_the_listener()
    {
        await using var listener = await NcDtlsProcess.StartListenerAsync(_output, Step, "-v", "127.0.0.1", "0");
        await using var client = NcDtlsProcess.Start(_output, "client", ["-v", "--ca", TestCertificates.CaPem, "127.0.0.1", Text(listener.Port)],
            resetInterrupt: true);
        string line = Unique("before Ctrl-C");
        await client.Process.WriteLineAsync(line);
        await listener.Process.ReadLineAsync(Step, received => received == line, $"'{line}'");

        await client.SignalAsync("INT");
        Assert.Equal(130, await client.WaitForExitAsync(Step));
        await listener.WaitForErrorLineAsync(l => l.Contains(" closed: the client sent close_notify", StringComparison.Ordinal),
            Step, "the client's 'closed' log line");
        Assert.Contains(client.StandardErrorLines, l => l.Contains("SIGINT: closing (close_notify)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Ctrl_C_on_the_listener_sends_close_notify_and_its_clients_exit_0()
    {
        await using var listener = await NcDtlsProcess.StartListenerAsync(_output, Step, resetInterrupt: true, "-v", "127.0.0.1", "0");
        await using var client = NcDtlsProcess.Start(_output, "client", ["-v", "--ca", TestCertificates.CaPem, "127.0.0.1", Text(listener.Port)]);
        string line = Unique("before the listener stops");
        await client.Process.WriteLineAsync(line);
        await listener.Process.ReadLineAsync(Step, received => received == line, $"'{line}'");

        await listener.SignalAsync("INT");

        // The server's close_notify ends the client's input: exit 0, though its standard input is still open.
        Assert.Equal(0, await client.WaitForExitAsync(Step));
        Assert.Contains(client.StandardErrorLines, l => l.Contains("closed the connection", StringComparison.Ordinal));
        Assert.Equal(130, await listener.WaitForExitAsync(Step));
        Assert.Contains(listener.StandardErrorLines, l => l.Contains(" closed: nc-dtls is stopping", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Binary_data_goes_through_byte_for_byte()
    {
        string directory = Path.Combine(Path.GetTempPath(), $"nc-dtls-binary-{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory);
        try
        {
            // Every byte value, NULs, CR/LF and invalid UTF-8 included: 32 KiB, a few dozen records.
            byte[] data = new byte[32 * 1024];
            new Random(6347).NextBytes(data);
            for (int i = 0; i < 256; i++)
            {
                data[i] = (byte)i;
            }

            string input = Path.Combine(directory, "in.bin");
            string received = Path.Combine(directory, "out.bin");
            await File.WriteAllBytesAsync(input, data);

            // The listener's standard output goes to a file; -v logs the bound port on standard error.
            await using var listener = NcDtlsProcess.Start(_output, "listener", ["-l", "-v", "127.0.0.1", "0"], standardOutputFile: received);
            string listening = await listener.WaitForErrorLineAsync(l => l.StartsWith("info nc-dtls: listening on UDP ", StringComparison.Ordinal),
                Step, "the 'listening' log line");
            var endPoint = IPEndPoint.Parse(listening["info nc-dtls: listening on UDP ".Length..].Split(' ')[0]);

            await using var client = NcDtlsProcess.Start(_output, "client", ["--ca", TestCertificates.CaPem, "127.0.0.1", Text(endPoint.Port)],
                standardInputFile: input);
            Assert.Equal(0, await client.WaitForExitAsync(Step));
            await listener.WaitForErrorLineAsync(l => l.Contains(" closed: the client sent close_notify", StringComparison.Ordinal),
                Step, "the client's 'closed' log line");

            byte[] expected = [.. System.Text.Encoding.UTF8.GetBytes($"{NcDtlsProcess.ReadyPrefix}{endPoint}\n"), .. data];
            byte[] actual = await File.ReadAllBytesAsync(received);
            Assert.Equal(expected.Length, actual.Length);
            Assert.True(expected.AsSpan().SequenceEqual(actual), "the listener's standard output differs from the client's standard input");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>Standard error is exactly one line, <c>nc-dtls: …</c>, containing <paramref name="expected"/>; returns it.</summary>
    private static string AssertOneErrorLine(NcDtlsProcess process, string expected)
    {
        string line = Assert.Single(process.StandardErrorLines);
        Assert.StartsWith("nc-dtls: ", line, StringComparison.Ordinal);
        Assert.Contains(expected, line, StringComparison.Ordinal);
        return line;
    }

    private static bool IsStackTraceLine(string line) => line.TrimStart().StartsWith("at ", StringComparison.Ordinal);

    private static string Unique(string text) => string.Create(CultureInfo.InvariantCulture, $"{text} {Guid.NewGuid():N}");

    private static string Text(int number) => number.ToString(CultureInfo.InvariantCulture);
}
