using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Interop;

/// <summary>
/// The echo sample as its own process, driven by GnuTLS's <c>gnutls-cli --udp</c>: a second independent DTLS 1.2
/// implementation besides openssl. gnutls-cli must be installed (package gnutls-bin; CI installs it); without it these
/// tests fail, saying so. Not tried here: ECDHE-PSK suites, since gnutls-cli 3.7.9 crashes printing such a session
/// (after a completed handshake, against any server); openssl covers them.
/// </summary>
public sealed class GnuTlsEchoSampleTests
{
    /// <summary>Upper bound for one step (start, handshake plus echo, close); each normally takes milliseconds.</summary>
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(20);

    private const string PskIdentity = "device-1";
    private const string PskKey = "000102030405060708090a0b0c0d0e0f";

    /// <summary>GnuTLS priority prefix: its defaults, DTLS 1.2 only.</summary>
    private const string Dtls12 = "NORMAL:-VERS-ALL:+VERS-DTLS1.2";

    private readonly ITestOutputHelper _output;

    public GnuTlsEchoSampleTests(ITestOutputHelper output)
    {
        _output = output;

        // Resolved first: without gnutls-cli every test fails at once, saying what is missing.
        output.WriteLine($"gnutls-cli: {GnuTlsCli.Path}");
    }

    // The GnuTLS priority string allows exactly one suite; gnutls-cli's description of the session and the suite the
    // sample logs must both name it.
    public static TheoryData<string, string, bool, string> Suites => new()
    {
        {
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", $"{Dtls12}:-CIPHER-ALL:+AES-128-GCM", false,
            "(DTLS1.2-X.509)-(ECDHE-SECP256R1)-(ECDSA-SHA256)-(AES-128-GCM)"
        },
        {
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", $"{Dtls12}:-CIPHER-ALL:+AES-256-GCM", false,
            "(DTLS1.2-X.509)-(ECDHE-SECP256R1)-(ECDSA-SHA256)-(AES-256-GCM)"
        },
        {
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", $"{Dtls12}:-CIPHER-ALL:+CHACHA20-POLY1305", false,
            "(DTLS1.2-X.509)-(ECDHE-SECP256R1)-(ECDSA-SHA256)-(CHACHA20-POLY1305)"
        },
        {
            "TLS_PSK_WITH_AES_128_CCM_8", $"{Dtls12}:-KX-ALL:+PSK:-CIPHER-ALL:+AES-128-CCM-8", true,
            "(DTLS1.2-X.509)-(PSK)-(AES-128-CCM-8)"
        },
        {
            // CoAP's mandatory suite for certificates and raw public keys (RFC 7252 §9.1.3.2-3).
            "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", $"{Dtls12}:-KX-ALL:+ECDHE-ECDSA:-CIPHER-ALL:+AES-128-CCM-8", false,
            "(DTLS1.2-X.509)-(ECDHE-SECP256R1)-(ECDSA-SHA256)-(AES-128-CCM-8)"
        },
    };

    [Theory]
    [MemberData(nameof(Suites))]
    public async Task Gnutls_cli_gets_a_line_echoed_in_each_suite_and_closes_cleanly(string ianaName, string priority, bool psk, string description)
    {
        await using var server = await StartServerAsync();
        await using var client = StartClient(server, priority, psk);

        string line = $"gnutls-cli over {ianaName} {Guid.NewGuid():N}";
        await client.WriteLineAsync(line);
        Assert.Equal(line, await client.ReadLineAsync(Step, l => l == line, $"the echo of '{line}'"));

        Assert.Equal(description, await GnuTlsCli.DescriptionAsync(client, Step));
        if (!psk)
        {
            AssertServerCertificateVerified(client);
        }
        else
        {
            Assert.Contains($"- PSK authentication. Connected as '{PskIdentity}'", client.StandardOutputLines);
        }

        string established = await server.Process.WaitForLineAsync(l => l.Contains(" from [::ffff:127.0.0.1]:", StringComparison.Ordinal)
            && l.Contains($" established ({ianaName}).", StringComparison.Ordinal), Step, $"the connection log line naming {ianaName}");

        await CloseAndExpectCleanExitAsync(client, server, established);
        Assert.Empty(server.ErrorLogLines);
    }

    // RFC 7250 §4.2: the server presents a type from the client's server_certificate_type list. A client that asks for a
    // raw public key only gets the key of the sample's certificate alone; one that lists X.509 first (and has no raw
    // key of its own) gets the certificate, verified against certs/ca.pem as usual.
    [Fact]
    public async Task Gnutls_cli_asking_for_a_raw_public_key_gets_one_and_a_client_preferring_X509_gets_the_certificate()
    {
        const string Ccm8 = $"{Dtls12}:-KX-ALL:+ECDHE-ECDSA:-CIPHER-ALL:+AES-128-CCM-8";
        await using var server = await StartServerAsync();

        await using (var rawKey = GnuTlsCli.StartDtlsClient("localhost", server.Port, $"{Ccm8}:-CTYPE-SRV-ALL:+CTYPE-SRV-RAWPK", _output,
            "--no-ca-verification"))
        {
            string line = $"raw public key {Guid.NewGuid():N}";
            await rawKey.WriteLineAsync(line);
            Assert.Equal(line, await rawKey.ReadLineAsync(Step, l => l == line, $"the echo of '{line}'"));
            Assert.Equal("(DTLS1.2-X.509-Raw Public Key)-(ECDHE-SECP256R1)-(ECDSA-SHA256)-(AES-128-CCM-8)", await GnuTlsCli.DescriptionAsync(rawKey, Step));
            Assert.Contains("- Certificate type: Raw Public Key", rawKey.StandardOutputLines);
            string established = await server.Process.WaitForLineAsync(l => l.Contains(" established (TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8).", StringComparison.Ordinal),
                Step, "the connection log line");
            await CloseAndExpectCleanExitAsync(rawKey, server, established);
        }

        await using (var x509First = GnuTlsCli.StartDtlsClient("localhost", server.Port, $"{Ccm8}:+CTYPE-SRV-ALL", _output,
            "--x509cafile", TestCertificates.CaPem))
        {
            string line = $"x509 first {Guid.NewGuid():N}";
            await x509First.WriteLineAsync(line);
            Assert.Equal(line, await x509First.ReadLineAsync(Step, l => l == line, $"the echo of '{line}'"));
            Assert.Equal("(DTLS1.2-X.509)-(ECDHE-SECP256R1)-(ECDSA-SHA256)-(AES-128-CCM-8)", await GnuTlsCli.DescriptionAsync(x509First, Step));
            AssertServerCertificateVerified(x509First);
            x509First.CloseStandardInput();
            Assert.True(await x509First.WaitForExitAsync(Step));
        }

        Assert.Empty(server.ErrorLogLines);
    }

    // gnutls-cli sends what it reads from standard input (one write of the line and its "\n", read whole) as one
    // record: 300 and 1,100 bytes here, the second near what one datagram holds at gnutls-cli's default MTU. Its record
    // log (-d 5) shows the sizes it sent and received, so the test cannot pass with the data split differently.
    [Fact]
    public async Task Gnutls_cli_gets_records_of_300_and_1100_bytes_back_exactly()
    {
        await using var server = await StartServerAsync();
        await using var client = StartClient(server, $"{Dtls12}:-CIPHER-ALL:+AES-128-GCM", psk: false, "-d", "5");

        string[] lines = [Printable(299, seed: 0), Printable(1099, seed: 7)];
        foreach (string line in lines)
        {
            await client.WriteLineAsync(line);

            // The next line of that length: a corrupted echo shows as a difference rather than a timeout.
            Assert.Equal(line, await client.ReadLineAsync(Step, l => l.Length == line.Length,
                $"the echo of the {line.Length + 1}-byte record"));
        }

        AssertServerCertificateVerified(client);
        string established = await server.Process.WaitForLineAsync(l => l.Contains(" established (", StringComparison.Ordinal), Step,
            "the connection log line");
        await CloseAndExpectCleanExitAsync(client, server, established);

        // Each came back once, whole; one application-data record of each size went each way, and no other.
        foreach (string line in lines)
        {
            Assert.Single(client.StandardOutputLines, l => l == line);
        }

        Assert.Equal(["300", "1100"], RecordLengths(client, "Preparing Packet Application Data(23) with length: "));
        Assert.Equal(["300", "1100"], RecordLengths(client, "] Application Data(23) with length: ", "Decrypted Packet["));
        Assert.Empty(server.ErrorLogLines);
    }

    private Task<EchoSampleProcess> StartServerAsync() => EchoSampleProcess.StartAsync(_output, extraEnvironment: new Dictionary<string, string?>
    {
        [$"Dtls__PskKeys__{PskIdentity}"] = PskKey,
    });

    private ExternalProcess StartClient(EchoSampleProcess server, string priority, bool psk, params string[] extraArguments) => psk
        ? GnuTlsCli.StartDtlsClient("127.0.0.1", server.Port, priority, _output, ["--pskusername", PskIdentity, "--pskkey", PskKey, .. extraArguments])
        // "localhost" resolves to 127.0.0.1 first and is the certificate's name (with verification against certs/ca.pem).
        : GnuTlsCli.StartDtlsClient("localhost", server.Port, priority, _output, ["--x509cafile", TestCertificates.CaPem, .. extraArguments]);

    /// <summary>
    /// gnutls-cli checked the server's chain against certs/ca.pem and the name "localhost" (without --insecure it ends
    /// the handshake otherwise); asserted too, so that a run whose certificate did not verify cannot pass.
    /// </summary>
    private static void AssertServerCertificateVerified(ExternalProcess client)
    {
        string status = client.StandardOutputLines.FirstOrDefault(l => l.StartsWith("- Status: ", StringComparison.Ordinal))?.Trim()
            ?? "no '- Status: ...' line";
        Assert.True(status == "- Status: The certificate is trusted.",
            $"{client.Name} did not verify the server certificate against certs/ca.pem: {status}");
    }

    /// <summary>The lengths after <paramref name="marker"/> in gnutls-cli's record log (standard error, with -d 5).</summary>
    private static string[] RecordLengths(ExternalProcess client, string marker, string? alsoContaining = null) => client.StandardErrorLines
        .Where(l => l.Contains(marker, StringComparison.Ordinal) && (alsoContaining is null || l.Contains(alsoContaining, StringComparison.Ordinal)))
        .Select(l => l[(l.IndexOf(marker, StringComparison.Ordinal) + marker.Length)..].Split(' ')[0])
        .ToArray();

    /// <summary>
    /// Ends gnutls-cli's standard input: it sends close_notify, the sample answers with its own and logs the
    /// connection closed, and gnutls-cli exits 0, all within <see cref="Step"/>.
    /// </summary>
    private static async Task CloseAndExpectCleanExitAsync(ExternalProcess client, EchoSampleProcess server, string establishedLogLine)
    {
        // "Connection ID from ENDPOINT established (SUITE)." -> "Connection ID from ENDPOINT closed."
        string connection = establishedLogLine.Trim()[..establishedLogLine.Trim().IndexOf(" established (", StringComparison.Ordinal)];

        client.CloseStandardInput();
        Assert.True(await client.WaitForExitAsync(Step), $"{client.Name} did not exit within {Step.TotalSeconds:0} s of the end of its input.");
        Assert.True(client.ExitCode == 0, $"{client.Name} exited with {client.ExitCode}; standard error (last 20 lines):\n{string.Join('\n', client.StandardErrorLines.TakeLast(20))}");
        Assert.Contains("- Peer has closed the GnuTLS connection", client.StandardOutputLines);
        await server.Process.WaitForLineAsync(l => l.Trim() == connection + " closed.", Step, $"'{connection} closed.'");
    }

    /// <summary>ASCII from '!' to '~', repeating, starting at <paramref name="seed"/>: a misplaced byte shows.</summary>
    private static string Printable(int length, int seed) => string.Create(length, seed, (chars, start) =>
    {
        for (int i = 0; i < chars.Length; i++)
        {
            chars[i] = (char)('!' + ((start + i) % 94));
        }
    });
}
