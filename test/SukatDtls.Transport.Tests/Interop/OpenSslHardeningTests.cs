using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SukatDtls.Transport.Client;
using SukatDtls.Transport.Features;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Interop;

/// <summary>
/// Client certificates and pre-shared keys against the real openssl CLI, both ways: <c>openssl s_client</c> against
/// the server transport in process, and our client against <c>openssl s_server</c>.
/// </summary>
public sealed class OpenSslHardeningTests
{
    /// <summary>Upper bound for one step (start, handshake plus echo); each normally takes milliseconds.</summary>
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(20);

    private static readonly string KeyHex = Convert.ToHexString(TestPskKeyStore.Key).ToLowerInvariant();

    private readonly ITestOutputHelper _output;
    private readonly ConnectionObserver _observer = new();

    public OpenSslHardeningTests(ITestOutputHelper output)
    {
        _output = output;
        output.WriteLine($"openssl: {OpenSslCli.Path}");
    }

    private Task<DtlsTestHost> StartAsync(Action<DtlsTransportOptions> configure) =>
        DtlsTestHost.StartAsync<EchoConnectionHandler>(_output, configure, configureServices: s => s.AddSingleton(_observer));

    private static void RequireCertificates(DtlsTransportOptions options)
    {
        options.ClientCertificateMode = ClientCertificateMode.RequireCertificate;
        options.ClientCertificateAuthorities = TestClientCertificates.DevCa();
    }

    private static void AssertNoErrors(DtlsTestHost host) =>
        Assert.DoesNotContain(host.Logs.Entries, e => e.Level >= LogLevel.Error);

    private static ExternalProcess StartOpenSsl(string name, ITestOutputHelper output, params string[] arguments) =>
        ExternalProcess.Start(name, OpenSslCli.Path, arguments, output);

    [Fact]
    public async Task Openssl_s_client_with_a_CA_signed_certificate_passes_RequireCertificate_and_exchanges_data()
    {
        await using var host = await StartAsync(RequireCertificates);

        // Not -quiet: s_client then also prints what our CertificateRequest asked for.
        await using var client = StartOpenSsl("s_client", _output, "s_client", "-dtls1_2", "-connect", $"127.0.0.1:{host.DtlsEndPoint.Port}",
            "-cert", TestCertificates.ClientPem, "-key", TestCertificates.ClientKey, "-CAfile", TestCertificates.CaPem, "-verify_return_error");

        await client.WaitForLineAsync(l => l.StartsWith("Acceptable client certificate CA names", StringComparison.Ordinal), Step, "the CA names");
        await client.WaitForLineAsync(l => l == "CN = SukatDtls Dev CA", Step, "the development CA's name");
        await client.WaitForLineAsync(l => l == "Client Certificate Types: ECDSA sign, RSA sign", Step, "the certificate types");
        string algorithms = await client.WaitForLineAsync(l => l.StartsWith("Requested Signature Algorithms: ", StringComparison.Ordinal), Step, "the signature algorithms");
        Assert.Contains("ECDSA+SHA256", algorithms);
        Assert.DoesNotContain("SHA1", algorithms);

        foreach (string line in new[] { "mutual over DTLS", new string('m', 900) })
        {
            await client.WriteLineAsync(line);
            Assert.Equal(line, await client.ReadLineAsync(Step, l => l == line, "the echo"));
        }

        var observed = await _observer.NextAsync(Step);
        Assert.Equal("CN=SukatDtls Dev Client", observed.Connection.Features.Get<ITlsConnectionFeature>()!.ClientCertificate!.Subject);
        Assert.Equal("CN=SukatDtls Dev Client", observed.Connection.Features.Get<IDtlsSessionFeature>()!.PeerCertificate!.Subject);
        Assert.Contains(host.Logs.Entries, e => e.EventId.Id == 20);
        AssertNoErrors(host);
    }

    [Fact]
    public async Task Openssl_s_client_without_a_certificate_is_refused_by_RequireCertificate()
    {
        await using var host = await StartAsync(RequireCertificates);
        await using var client = OpenSslCli.StartDtlsClient($"127.0.0.1:{host.DtlsEndPoint.Port}", _output, "-CAfile", TestCertificates.CaPem);

        Assert.True(await client.WaitForExitAsync(Step), "s_client did not give up after the fatal alert");
        Assert.Contains(client.StandardErrorLines, l => l.Contains("alert handshake failure", StringComparison.Ordinal));
        await Wait.UntilAsync(() => host.Logs.Entries.Any(e => e.EventId.Id == 22));
        Assert.Equal(0, host.Listener.Statistics.HandshakesCompleted);
        AssertNoErrors(host);
    }

    [Fact]
    public async Task Openssl_s_client_with_a_self_signed_certificate_gets_unknown_ca()
    {
        await using var host = await StartAsync(RequireCertificates);
        using var selfSigned = TestClientCertificates.SelfSigned("Stranger");
        string directory = Directory.CreateTempSubdirectory("sukat-dtls-").FullName;
        try
        {
            string pem = Path.Combine(directory, "stranger.pem");
            string key = Path.Combine(directory, "stranger.key");
            await File.WriteAllTextAsync(pem, selfSigned.ExportCertificatePem());
            using (var ecdsa = selfSigned.GetECDsaPrivateKey()!)
            {
                await File.WriteAllTextAsync(key, ecdsa.ExportPkcs8PrivateKeyPem());
            }

            await using var client = OpenSslCli.StartDtlsClient($"127.0.0.1:{host.DtlsEndPoint.Port}", _output,
                "-cert", pem, "-key", key, "-CAfile", TestCertificates.CaPem);
            Assert.True(await client.WaitForExitAsync(Step), "s_client did not give up after the fatal alert");
            Assert.Contains(client.StandardErrorLines, l => l.Contains("alert unknown ca", StringComparison.Ordinal));
            await Wait.UntilAsync(() => host.Logs.Entries.Any(e => e.EventId.Id == 23));
            Assert.Contains(host.Logs.Entries, e => e.EventId.Id == 23 && e.Message.Contains("CN=Stranger", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    public static TheoryData<string, string> PskSuites => new()
    {
        { "ECDHE-PSK-CHACHA20-POLY1305", "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256" },
        { "ECDHE-PSK-AES128-CBC-SHA256", "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256" },
        { "PSK-AES128-GCM-SHA256", "TLS_PSK_WITH_AES_128_GCM_SHA256" },
        { "PSK-AES128-CCM", "TLS_PSK_WITH_AES_128_CCM" },
        { "PSK-AES128-CCM8", "TLS_PSK_WITH_AES_128_CCM_8" },
    };

    [Theory]
    [MemberData(nameof(PskSuites))]
    public Task Openssl_s_client_connects_to_a_psk_only_server_with_each_suite(string openSslName, string ianaName) =>
        OpenSslClientExchangesWithPskOnlyServerAsync(openSslName, ianaName);

    // OpenSSL and BouncyCastle both offer encrypt-then-MAC (RFC 7366); without it the CBC records are laid out otherwise.
    [Fact]
    public Task Openssl_s_client_connects_with_CBC_without_encrypt_then_mac() =>
        OpenSslClientExchangesWithPskOnlyServerAsync("ECDHE-PSK-AES128-CBC-SHA256", "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256", "-no_etm");

    private async Task OpenSslClientExchangesWithPskOnlyServerAsync(string openSslName, string ianaName, params string[] extraArguments)
    {
        await using var host = await StartAsync(o =>
        {
            o.ServerCertificate = null;
            o.PskKeyStore = new TestPskKeyStore();
        });
        await using var client = OpenSslCli.StartDtlsClient($"127.0.0.1:{host.DtlsEndPoint.Port}", _output,
            ["-psk", KeyHex, "-psk_identity", TestPskKeyStore.Identity, "-cipher", openSslName, .. extraArguments]);

        // One record per line (line + '\n'): the shortest and the block edges are what a wrong record filter drops.
        foreach (string line in new[] { "", "a", new string('b', 14), new string('c', 15), new string('d', 16), new string('e', 31), new string('f', 100), new string('g', 1200) })
        {
            string sent = line.Length == 0 ? "." : line;
            await client.WriteLineAsync(sent);
            Assert.Equal(sent, await client.ReadLineAsync(Step, what: $"the echo of a {sent.Length}-character line"));
        }

        var observed = await _observer.NextAsync(Step);
        var session = observed.Connection.Features.Get<IDtlsSessionFeature>()!;
        Assert.Equal(ianaName, session.CipherSuiteName);
        Assert.Equal(TestPskKeyStore.Identity, session.PskIdentity);
        Assert.Null(session.PeerCertificate);
        Assert.False(observed.Ended.Task.IsCompleted);
        AssertNoErrors(host);
    }

    [Fact]
    public async Task Openssl_s_client_with_a_wrong_key_gets_decrypt_error_and_the_server_goes_on()
    {
        await using var host = await StartAsync(o => o.PskKeyStore = new TestPskKeyStore());
        await using (var wrong = OpenSslCli.StartDtlsClient($"127.0.0.1:{host.DtlsEndPoint.Port}", _output,
            "-psk", "ffeeddccbbaa99887766554433221100", "-psk_identity", TestPskKeyStore.Identity, "-cipher", "PSK"))
        {
            Assert.True(await wrong.WaitForExitAsync(Step), "s_client did not give up after the fatal alert");
            Assert.Contains(wrong.StandardErrorLines, l => l.Contains("alert decrypt error", StringComparison.Ordinal));
        }

        await Wait.UntilAsync(() => host.Logs.Entries.Any(e => e.EventId.Id == 32));
        Assert.Contains(host.Logs.Entries, e => e.EventId.Id == 5 && e.Message.Contains("decrypt_error", StringComparison.Ordinal));
        AssertNoErrors(host);

        await using var right = OpenSslCli.StartDtlsClient($"127.0.0.1:{host.DtlsEndPoint.Port}", _output,
            "-psk", KeyHex, "-psk_identity", TestPskKeyStore.Identity, "-cipher", "PSK");
        await right.WriteLineAsync("the right key");
        Assert.Equal("the right key", await right.ReadLineAsync(Step, what: "the echo"));
    }

    [Theory]
    [MemberData(nameof(PskSuites))]
    public Task Our_client_connects_to_openssl_s_server_with_each_psk_suite(string openSslName, string ianaName) =>
        OurClientExchangesWithOpenSslServerAsync(openSslName, ianaName);

    [Fact]
    public Task Our_client_connects_to_openssl_s_server_with_CBC_without_encrypt_then_mac() =>
        OurClientExchangesWithOpenSslServerAsync("ECDHE-PSK-AES128-CBC-SHA256", "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256", "-no_etm");

    private async Task OurClientExchangesWithOpenSslServerAsync(string openSslName, string ianaName, params string[] extraArguments)
    {
        await using var server = StartOpenSsl("s_server", _output, ["s_server", "-dtls1_2", "-accept", "127.0.0.1:0", "-nocert",
            "-psk", KeyHex, "-psk_identity", TestPskKeyStore.Identity, "-cipher", openSslName, .. extraArguments]);
        int port = await OpenSslCli.AcceptPortAsync(server, Step);

        await using var factory = new DtlsConnectionFactory(Options.Create(new DtlsClientOptions
        {
            PskIdentity = TestPskKeyStore.Identity,
            PskKey = TestPskKeyStore.Key,
        }), Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        await using var connection = await factory.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        var session = connection.Features.Get<IDtlsSessionFeature>()!;
        Assert.Equal(ianaName, session.CipherSuiteName);

        await server.WaitForLineAsync(l => l == $"CIPHER is {openSslName}", Step, "the negotiated cipher");
        foreach (string text in new[] { "a", new string('z', 15), new string('y', 16), new string('x', 500) })
        {
            await connection.Transport.Output.WriteAsync(System.Text.Encoding.UTF8.GetBytes(text + "\n"));
            await server.WaitForLineAsync(l => l == text, Step, $"our {text.Length}-character line");

            // s_server sends what it reads on standard input: the shortest records come back to our filter.
            await server.WriteLineAsync(text);
            Assert.Equal(text + "\n", await OpenSslCli.ReadTextAsync(connection, text.Length + 1, Step));
        }
    }

    [Fact]
    public async Task Our_client_certificate_is_verified_by_openssl_s_server()
    {
        await using var server = StartOpenSsl("s_server", _output, "s_server", "-dtls1_2", "-accept", "127.0.0.1:0",
            "-cert", TestCertificates.ServerPem, "-key", TestCertificates.ServerKey,
            "-Verify", "1", "-CAfile", TestCertificates.CaPem, "-verify_return_error");
        int port = await OpenSslCli.AcceptPortAsync(server, Step);

        using var certificate = TestClientCertificates.DevClient();
        await using var factory = new DtlsConnectionFactory(Options.Create(new DtlsClientOptions
        {
            TrustedCertificateAuthorities = TestClientCertificates.DevCa(),
            ClientCertificate = certificate,
        }), Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        await using var connection = await factory.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));

        await server.WaitForLineAsync(l => l == "subject=CN = SukatDtls Dev Client", Step, "the client certificate's subject");
        await connection.Transport.Output.WriteAsync("signed hello\n"u8.ToArray());
        await server.WaitForLineAsync(l => l == "signed hello", Step, "our line");
        Assert.DoesNotContain(server.StandardErrorLines, l => l.Contains("verify error", StringComparison.Ordinal));
        Assert.Equal(certificate.Thumbprint, connection.Features.Get<ITlsConnectionFeature>()!.ClientCertificate!.Thumbprint);
    }
}
