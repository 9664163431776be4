using System.Security.Cryptography;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Interop;

/// <summary>
/// Real IoT clients against the CoAP sample as its own process: libcoap's <c>coap-client-openssl</c> and
/// <c>coap-client-gnutls</c> (package libcoap3-bin), in CoAP's three security modes (RFC 7252 §9): pre-shared key,
/// certificate (the server's checked against certs/ca.pem; with a client certificate too) and raw public key (GnuTLS
/// build only; OpenSSL 3.0 has no RFC 7250). libcoap's exit code is always 0: each run is judged by the payload on
/// standard output and the absence of error lines (a failed request always logs "ERR cannot send CoAP pdu").
/// </summary>
public sealed class LibCoapTests : IDisposable
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(20);

    private const string PskIdentity = "device-1";

    /// <summary>libcoap's <c>-k</c> takes the key as text: this is "secretsecret1234".</summary>
    private const string PskKeyText = "secretsecret1234";

    private readonly ITestOutputHelper _output;
    private readonly string _directory = Directory.CreateTempSubdirectory("sukat-dtls-coap-").FullName;

    public LibCoapTests(ITestOutputHelper output)
    {
        _output = output;
        output.WriteLine($"coap-client-openssl: {LibCoapClient.Path("openssl")}, coap-client-gnutls: {LibCoapClient.Path("gnutls")}");
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    public static TheoryData<string> Builds => new() { "openssl", "gnutls" };

    [Theory]
    [MemberData(nameof(Builds))]
    public async Task Coap_client_with_a_pre_shared_key_discovers_the_resources_is_known_by_its_identity_and_gets_its_post_echoed(string build)
    {
        await using var server = await CoapSampleProcess.StartAsync(_output, new Dictionary<string, string?>
        {
            [$"Dtls__PskKeys__{PskIdentity}"] = Convert.ToHexString(System.Text.Encoding.ASCII.GetBytes(PskKeyText)),
        });
        string[] psk = ["-u", PskIdentity, "-k", PskKeyText];

        string links = await GetAsync(build, $"coaps://127.0.0.1:{server.Port}/.well-known/core", psk);
        Assert.StartsWith("</hello>;rt=\"example.hello\";ct=0;", links, StringComparison.Ordinal);
        Assert.Contains(",</time>;", links, StringComparison.Ordinal);
        Assert.Contains(",</echo>;", links, StringComparison.Ordinal);
        Assert.Contains(",</whoami>;", links, StringComparison.Ordinal);

        Assert.Equal($"pre-shared key '{PskIdentity}'", await GetAsync(build, $"coaps://127.0.0.1:{server.Port}/whoami", psk));

        string text = $"posted by coap-client-{build} {Guid.NewGuid():N}";
        Assert.Equal(text, await GetAsync(build, $"coaps://127.0.0.1:{server.Port}/echo", [.. psk, "-m", "post", "-e", text]));
        Assert.Empty(server.ErrorLogLines);
    }

    [Theory]
    [MemberData(nameof(Builds))]
    public async Task Coap_client_checking_the_server_certificate_against_the_CA_reads_hello_and_its_own_certificate_is_seen(string build)
    {
        await using var server = await CoapSampleProcess.StartAsync(_output);

        // -R: trust certs/ca.pem and verify the server's chain and the name "localhost" against it.
        Assert.Equal("Hello from SukatDtls over CoAP and DTLS!",
            await GetAsync(build, $"coaps://localhost:{server.Port}/hello", "-R", TestCertificates.CaPem));

        // -C/-c/-j: the same, and a client certificate for the sample's AllowCertificate (checked against certs/ca.pem).
        Assert.Equal("certificate CN=SukatDtls Dev Client", await GetAsync(build, $"coaps://localhost:{server.Port}/whoami",
            "-C", TestCertificates.CaPem, "-c", TestCertificates.ClientPem, "-j", TestCertificates.ClientKey));

        // The check is real: against a CA that did not sign the server's certificate, the handshake fails.
        await using var refused = await LibCoapClient.RunAsync(build, $"coaps://localhost:{server.Port}/hello", _output, Step, "-R", WriteOtherCa());
        Assert.Equal("", LibCoapClient.Payload(refused));
        Assert.Contains(LibCoapClient.ErrorLines(refused), line => line.Contains("cannot send CoAP pdu", StringComparison.Ordinal));
        Assert.Contains(LibCoapClient.LogLines(refused), line => line.Contains("certificate verify failed", StringComparison.Ordinal)
            || line.Contains("The peer certificate's CA is unknown", StringComparison.Ordinal));
        Assert.Empty(server.ErrorLogLines);
    }

    [Fact]
    public async Task Coap_client_gnutls_with_a_raw_public_key_is_known_by_its_key_and_a_key_the_server_does_not_know_is_refused()
    {
        using var device = TestRawPublicKeys.ClientKey();
        string fingerprint = TestRawPublicKeys.Sha256Hex(device);
        await using var server = await CoapSampleProcess.StartAsync(_output, new Dictionary<string, string?>
        {
            ["Dtls__ClientRawPublicKeys__0"] = fingerprint,
        });

        // -M wants SEC1 ("EC PRIVATE KEY"); certs/client.key is PKCS#8.
        string deviceKey = WriteSec1Key("device.pem", device);
        Assert.Equal($"raw public key SHA-256 {fingerprint}", await GetAsync("gnutls", $"coaps://127.0.0.1:{server.Port}/whoami", "-M", deviceKey));

        using var stranger = TestRawPublicKeys.NewKey();
        await using var refused = await LibCoapClient.RunAsync("gnutls", $"coaps://127.0.0.1:{server.Port}/whoami", _output, Step,
            "-M", WriteSec1Key("stranger.pem", stranger));
        Assert.Equal("", LibCoapClient.Payload(refused));
        Assert.Contains(LibCoapClient.ErrorLines(refused), line => line.Contains("cannot send CoAP pdu", StringComparison.Ordinal));
        Assert.Contains(LibCoapClient.LogLines(refused), line => line.Contains("Access was denied", StringComparison.Ordinal));
        await server.Process.WaitForLineAsync(line => line.Contains($"client raw public key (SHA-256 {TestRawPublicKeys.Sha256Hex(stranger)}) is not in the key store; refused with alert access_denied",
            StringComparison.Ordinal), Step, "the refusal of the stranger's key");
        Assert.Empty(server.ErrorLogLines);
    }

    /// <summary>Runs the client and returns the payload it printed, after checking it logged no warning or error.</summary>
    private async Task<string> GetAsync(string build, string uri, params string[] arguments)
    {
        await using var client = await LibCoapClient.RunAsync(build, uri, _output, Step, arguments);
        var errors = LibCoapClient.ErrorLines(client);
        Assert.True(errors.Count == 0, $"coap-client-{build} {string.Join(' ', arguments)} {uri} logged:\n{string.Join('\n', errors)}");
        return LibCoapClient.Payload(client);
    }

    private string WriteSec1Key(string name, ECDsa key)
    {
        string path = Path.Combine(_directory, name);
        File.WriteAllText(path, key.ExportECPrivateKeyPem());
        return path;
    }

    /// <summary>A self-signed CA of its own: it signed nothing the server has.</summary>
    private string WriteOtherCa()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=Another CA", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new System.Security.Cryptography.X509Certificates.X509BasicConstraintsExtension(true, false, 0, true));
        using var ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        string path = Path.Combine(_directory, "other-ca.pem");
        File.WriteAllText(path, ca.ExportCertificatePem());
        return path;
    }
}
