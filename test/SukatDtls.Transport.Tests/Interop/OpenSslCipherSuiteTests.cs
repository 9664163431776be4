using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SukatDtls.Transport.Client;
using SukatDtls.Transport.Features;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Interop;

/// <summary>
/// Every certificate cipher suite and every key-exchange group we negotiate, against the openssl CLI both ways. The
/// record ciphers (AES-GCM, AES-CCM) and the key agreements run on the platform's crypto rather than BouncyCastle's,
/// so each is checked against an independent implementation: a wrong nonce, tag, additional data or shared secret
/// fails the handshake's Finished or the first record.
/// </summary>
public sealed class OpenSslCipherSuiteTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(20);

    // The shortest record, the AES block edges, and one near the datagram limit.
    private static readonly string[] s_lines = ["a", new string('b', 15), new string('c', 16), new string('d', 17), new string('e', 100), new string('f', 1100)];

    private readonly ITestOutputHelper _output;
    private readonly ConnectionObserver _observer = new();

    public OpenSslCipherSuiteTests(ITestOutputHelper output) => _output = output;

    public static TheoryData<string, string, bool> CertificateSuites => new()
    {
        { "ECDHE-ECDSA-AES128-GCM-SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", false },
        { "ECDHE-ECDSA-AES256-GCM-SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", false },
        { "ECDHE-ECDSA-CHACHA20-POLY1305", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", false },
        { "ECDHE-ECDSA-AES128-CCM", "TLS_ECDHE_ECDSA_WITH_AES_128_CCM", false },
        { "ECDHE-ECDSA-AES128-CCM8", "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", false }, // CoAP's mandatory certificate suite
        { "ECDHE-RSA-AES128-GCM-SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", true },
        { "ECDHE-RSA-AES256-GCM-SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", true },
    };

    // OpenSSL's names; each run offers (client) or accepts (server) only the one group, so success means it was used.
    // With an RSA certificate: in TLS 1.2 the groups a client lists also bound the curve of an ECDSA certificate.
    public static TheoryData<string> Groups => new() { "X25519", "P-256", "P-384" };

    [Theory]
    [MemberData(nameof(CertificateSuites))]
    public Task Openssl_s_client_exchanges_records_with_our_server_in_each_suite(string openSslName, string ianaName, bool rsa) =>
        ExchangeWithOurServerAsync(openSslName, ianaName, rsa, ownHandshake: true);

    // The same suites through BouncyCastle's handshake, which still takes every handshake ours does not.
    [Theory]
    [MemberData(nameof(CertificateSuites))]
    public Task Openssl_s_client_exchanges_records_with_our_server_in_each_suite_after_BouncyCastle_s_handshake(string openSslName, string ianaName,
        bool rsa) => ExchangeWithOurServerAsync(openSslName, ianaName, rsa, ownHandshake: false);

    private async Task ExchangeWithOurServerAsync(string openSslName, string ianaName, bool rsa, bool ownHandshake)
    {
        await using var host = await StartServerAsync(rsa, ownHandshake);
        await using var client = OpenSslCli.StartDtlsClient($"127.0.0.1:{host.DtlsEndPoint.Port}", _output,
            "-cipher", openSslName, "-CAfile", TestCertificates.CaPem, "-verify_return_error");

        await EchoThroughOpenSslClientAsync(client);
        var session = (await _observer.NextAsync(Step)).Connection.Features.Get<IDtlsSessionFeature>()!;
        Assert.Equal(ianaName, session.CipherSuiteName);
        Assert.Equal(1, host.Listener.Statistics.HandshakesCompleted);
        Assert.Equal(ownHandshake ? 1 : 0, host.Listener.Statistics.OwnHandshakesCompleted);
        AssertNoErrors(host);
    }

    [Theory]
    [MemberData(nameof(CertificateSuites))]
    public async Task Our_client_exchanges_records_with_openssl_s_server_in_each_suite(string openSslName, string ianaName, bool rsa)
    {
        await using var server = StartOpenSslServer(rsa, "-cipher", openSslName);
        await using var factory = NewClientFactory();
        await using var connection = await factory.ConnectAsync(new IPEndPoint(IPAddress.Loopback, await OpenSslCli.AcceptPortAsync(server, Step)));

        Assert.Equal(ianaName, connection.Features.Get<IDtlsSessionFeature>()!.CipherSuiteName);
        await server.WaitForLineAsync(l => l == $"CIPHER is {openSslName}", Step, "the negotiated cipher");
        await ExchangeWithOpenSslServerAsync(server, connection);
    }

    // OpenSSL 3.0 has no raw public keys (RFC 7250): it ignores our server_certificate_type and sends its certificate,
    // whose key the pin then matches. No trust is configured: the pin alone must be enough.
    [Fact]
    public async Task Our_client_pinning_the_server_key_accepts_it_in_the_certificate_of_openssl_s_server()
    {
        await using var server = StartOpenSslServer(rsa: false, "-cipher", "ECDHE-ECDSA-AES128-CCM8");
        using var serverKey = TestRawPublicKeys.ServerKey();
        await using var factory = new DtlsConnectionFactory(
            Options.Create(new DtlsClientOptions { PinnedServerPublicKeySha256 = TestRawPublicKeys.Sha256(serverKey) }),
            Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        await using var connection = await factory.ConnectAsync(new IPEndPoint(IPAddress.Loopback, await OpenSslCli.AcceptPortAsync(server, Step)));

        var session = connection.Features.Get<IDtlsSessionFeature>()!;
        Assert.Equal("TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", session.CipherSuiteName);
        Assert.Equal(DtlsPeerAuthentication.Certificate, session.PeerAuthentication);
        Assert.Equal("CN=localhost", session.PeerCertificate!.Subject);
        await ExchangeWithOpenSslServerAsync(server, connection);
    }

    [Theory]
    [MemberData(nameof(Groups))]
    [InlineData("P-521")] // our client does not offer it (BouncyCastle's default list), our server accepts it
    public async Task Openssl_s_client_offering_one_group_completes_the_handshake(string group)
    {
        await using var host = await StartServerAsync(rsa: true);
        await using var client = OpenSslCli.StartDtlsClient($"127.0.0.1:{host.DtlsEndPoint.Port}", _output,
            "-groups", group, "-CAfile", TestCertificates.CaPem, "-verify_return_error");

        await EchoThroughOpenSslClientAsync(client);

        // Our own handshake takes X25519 and P-256; BouncyCastle's the other curves.
        Assert.Equal(group is "X25519" or "P-256" ? 1 : 0, host.Listener.Statistics.OwnHandshakesCompleted);
        AssertNoErrors(host);
    }

    [Theory]
    [MemberData(nameof(Groups))]
    public async Task Our_client_completes_the_handshake_with_openssl_s_server_accepting_one_group(string group)
    {
        await using var server = StartOpenSslServer(rsa: true, "-groups", group);
        await using var factory = NewClientFactory();
        await using var connection = await factory.ConnectAsync(new IPEndPoint(IPAddress.Loopback, await OpenSslCli.AcceptPortAsync(server, Step)));

        await ExchangeWithOpenSslServerAsync(server, connection);
    }

    [Fact]
    public async Task The_listener_logs_which_library_computes_the_cryptography()
    {
        await using var host = await StartServerAsync(rsa: false);
        var entry = Assert.Single(host.Logs.Entries, e => e.EventId.Id == 17);
        if (OperatingSystem.IsLinux())
        {
            Assert.Contains("AES-GCM by libcrypto (libcrypto.so.", entry.Message, StringComparison.Ordinal);
            Assert.Contains("ChaCha20-Poly1305 by libcrypto (libcrypto.so.", entry.Message, StringComparison.Ordinal);
            Assert.Contains("X25519 by the system libcrypto (libcrypto.so.", entry.Message, StringComparison.Ordinal);
            Assert.Contains("AES-CCM by libcrypto (libcrypto.so.", entry.Message, StringComparison.Ordinal);
            Assert.Contains("AES-CBC by libcrypto (libcrypto.so.", entry.Message, StringComparison.Ordinal);
        }
    }

    private Task<DtlsTestHost> StartServerAsync(bool rsa, bool ownHandshake = true) =>
        DtlsTestHost.StartAsync<EchoConnectionHandler>(_output, o =>
        {
            o.UseOwnServerHandshake = ownHandshake;
            if (rsa)
            {
                o.ServerCertificate = TestCertificates.RsaServer();
            }
        }, configureServices: s => s.AddSingleton(_observer));

    private ExternalProcess StartOpenSslServer(bool rsa, params string[] extraArguments) =>
        ExternalProcess.Start("s_server", OpenSslCli.Path,
        [
            "s_server", "-dtls1_2", "-accept", "127.0.0.1:0",
            "-cert", rsa ? TestCertificates.ServerRsaPem : TestCertificates.ServerPem,
            "-key", rsa ? TestCertificates.ServerRsaKey : TestCertificates.ServerKey,
            .. extraArguments,
        ], _output);

    private static DtlsConnectionFactory NewClientFactory() =>
        new(Options.Create(new DtlsClientOptions { TrustedCertificateAuthorities = TestClientCertificates.DevCa() }),
            Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);

    private static async Task EchoThroughOpenSslClientAsync(ExternalProcess client)
    {
        foreach (string line in s_lines)
        {
            await client.WriteLineAsync(line);
            Assert.Equal(line, await client.ReadLineAsync(Step, what: $"the echo of a {line.Length}-character line"));
        }
    }

    private static async Task ExchangeWithOpenSslServerAsync(ExternalProcess server, ConnectionContext connection)
    {
        foreach (string text in s_lines)
        {
            await connection.Transport.Output.WriteAsync(System.Text.Encoding.UTF8.GetBytes(text + "\n"));
            await server.WaitForLineAsync(l => l == text, Step, $"our {text.Length}-character line");

            // s_server sends what it reads on standard input.
            await server.WriteLineAsync(text);
            Assert.Equal(text + "\n", await OpenSslCli.ReadTextAsync(connection, text.Length + 1, Step));
        }
    }

    private static void AssertNoErrors(DtlsTestHost host) =>
        Assert.DoesNotContain(host.Logs.Entries, e => e.Level >= LogLevel.Error);
}
