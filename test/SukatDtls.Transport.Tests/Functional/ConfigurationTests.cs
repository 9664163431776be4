using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SukatDtls.Transport.Client;
using SukatDtls.Transport.Features;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>
/// The transport configured without code: a "Dtls" configuration section (in memory, or an appsettings.json) binds the
/// options, certificates come from files, and every bad value stops the host's start with a message naming its key.
/// </summary>
public sealed class ConfigurationTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("sukat-dtls-config-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static (string, string?)[] PemCertificate =>
        [("CertificatePath", TestCertificates.ServerPem), ("KeyPath", TestCertificates.ServerKey)];

    private static byte[] PemFileCertificate(string path) => X509Certificate2.CreateFromPem(File.ReadAllText(path)).RawData;

    private static DtlsConnectionFactory ClientFactory(Action<DtlsClientOptions>? configure = null)
    {
        var options = new DtlsClientOptions { DangerousAcceptAnyServerCertificate = true };
        configure?.Invoke(options);
        return new DtlsConnectionFactory(Options.Create(options), NullLoggerFactory.Instance);
    }

    private static async Task<string> EchoOnceAsync(ConnectionContext connection, string text)
    {
        await connection.Transport.Output.WriteAsync(Encoding.UTF8.GetBytes(text));
        var result = await connection.Transport.Input.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        var echoed = Encoding.UTF8.GetString(System.Buffers.BuffersExtensions.ToArray(result.Buffer));
        connection.Transport.Input.AdvanceTo(result.Buffer.End);
        return echoed;
    }

    [Fact]
    public async Task A_configuration_section_sets_the_scalar_options_and_the_certificate_files()
    {
        var section = ConfiguredDtlsHost.Section(
        [
            .. PemCertificate,
            ("HandshakeTimeout", "00:00:07"),
            ("IdleTimeout", "00:02:00"),
            ("MaxConcurrentHandshakes", "4"),
            ("HandshakeQueueLength", "8"),
            ("AcceptQueueLength", "16"),
            ("CookieKeyRotationInterval", "00:00:30"),
            ("ClientCertificateMode", "NoCertificate"),
            ("ClientCertificateRevocationMode", "Offline"),
            ("EnableSessionResumption", "false"),
            ("MaxCachedSessions", "100"),
            ("SessionLifetime", "00:10:00"),
            ("MaxConnections", "10"),
            ("MaxHandshakesPerSecondPerAddress", "50"),
            ("PskIdentityHint", "a hint"),
        ]);
        await using var host = await ConfiguredDtlsHost.StartAsync(output, section);

        var options = host.Options;
        Assert.Equal(TimeSpan.FromSeconds(7), options.HandshakeTimeout);
        Assert.Equal(TimeSpan.FromMinutes(2), options.IdleTimeout);
        Assert.Equal(4, options.MaxConcurrentHandshakes);
        Assert.Equal(8, options.HandshakeQueueLength);
        Assert.Equal(16, options.AcceptQueueLength);
        Assert.Equal(TimeSpan.FromSeconds(30), options.CookieKeyRotationInterval);
        Assert.Equal(ClientCertificateMode.NoCertificate, options.ClientCertificateMode);
        Assert.Equal(X509RevocationMode.Offline, options.ClientCertificateRevocationMode);
        Assert.False(options.EnableSessionResumption);
        Assert.Equal(100, options.MaxCachedSessions);
        Assert.Equal(TimeSpan.FromMinutes(10), options.SessionLifetime);
        Assert.Equal(10, options.MaxConnections);
        Assert.Equal(50, options.MaxHandshakesPerSecondPerAddress);
        Assert.Equal("a hint", options.PskIdentityHint);
        Assert.Null(options.ServerCertificate);

        using var client = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint);
        client.Send("configured");
        Assert.Equal("configured", client.ReceiveText());
        Assert.Equal(PemFileCertificate(TestCertificates.ServerPem), client.ServerCertificate!.GetEncoded());
        Assert.Contains(host.Logs.Entries, e => e.EventId.Id == 40 && e.Message.Contains(TestCertificates.ServerPem, StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_appsettings_json_with_paths_relative_to_the_content_root_configures_the_host_by_section_name()
    {
        Directory.CreateDirectory(Path.Combine(_directory, "certs"));
        File.Copy(TestCertificates.ServerRsaPem, Path.Combine(_directory, "certs", "server.pem"));
        File.Copy(TestCertificates.ServerRsaKey, Path.Combine(_directory, "certs", "server.key"));
        File.WriteAllText(Path.Combine(_directory, "appsettings.json"), """
            {
              "Dtls": {
                "CertificatePath": "certs/server.pem",
                "KeyPath": "certs/server.key",
                "HandshakeTimeout": "00:00:09",
                "MaxConnections": 100
              }
            }
            """);

        // WebApplication.CreateBuilder reads appsettings.json from the content root; UseDtls("Dtls") binds its section.
        await using var host = await ConfiguredDtlsHost.StartAsync(output, builder => builder.WebHost.UseDtls("Dtls"), contentRoot: _directory);
        Assert.Equal(TimeSpan.FromSeconds(9), host.Options.HandshakeTimeout);
        Assert.Equal(100, host.Options.MaxConnections);

        await using var factory = ClientFactory();
        await using var connection = await factory.ConnectAsync(host.DtlsEndPoint);
        Assert.Equal("from json", await EchoOnceAsync(connection, "from json"));
        var session = connection.Features.Get<IDtlsSessionFeature>()!;
        Assert.Equal(PemFileCertificate(TestCertificates.ServerRsaPem), session.PeerCertificate!.RawData);
        Assert.Contains("RSA", session.CipherSuiteName, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Client_certificate_authorities_come_from_a_PEM_bundle()
    {
        var observer = new ConnectionObserver();
        var section = ConfiguredDtlsHost.Section(
        [
            .. PemCertificate,
            ("ClientCertificateMode", "RequireCertificate"),
            ("ClientCertificateAuthoritiesPath", TestCertificates.CaPem),
        ]);
        await using var host = await ConfiguredDtlsHost.StartAsync(output, section, observer: observer);

        await using (var anonymous = ClientFactory())
        {
            await Assert.ThrowsAsync<AuthenticationException>(() => anonymous.ConnectAsync(host.DtlsEndPoint).AsTask());
        }

        await using var factory = ClientFactory(o => o.ClientCertificate = TestClientCertificates.DevClient());
        await using var connection = await factory.ConnectAsync(host.DtlsEndPoint);
        Assert.Equal("authenticated", await EchoOnceAsync(connection, "authenticated"));
        var observed = await observer.NextAsync();
        Assert.Equal("CN=SukatDtls Dev Client", observed.Connection.Features.Get<ITlsConnectionFeature>()!.ClientCertificate!.Subject);
    }

    [Fact]
    public async Task Pre_shared_keys_from_configuration_make_a_psk_only_server()
    {
        var observer = new ConnectionObserver();
        var section = ConfiguredDtlsHost.Section(
            ("PskKeys:device-1", Convert.ToHexString(TestPskKeyStore.Key)),
            ("PskKeys:device-2", "  " + new string('a', 64) + " "),
            ("PskIdentityHint", "sukat"));
        await using var host = await ConfiguredDtlsHost.StartAsync(output, section, observer: observer);

        await using var factory = ClientFactory(o => (o.PskIdentity, o.PskKey) = (TestPskKeyStore.Identity, TestPskKeyStore.Key));
        await using var connection = await factory.ConnectAsync(host.DtlsEndPoint);
        Assert.Equal("psk", await EchoOnceAsync(connection, "psk"));
        var observed = await observer.NextAsync();
        Assert.Equal(TestPskKeyStore.Identity, observed.Connection.Features.Get<IDtlsSessionFeature>()!.PskIdentity);

        await using var second = ClientFactory(o => (o.PskIdentity, o.PskKey) = ("device-2", Enumerable.Repeat((byte)0xAA, 32).ToArray()));
        await using var connection2 = await second.ConnectAsync(host.DtlsEndPoint);
        Assert.Equal("second", await EchoOnceAsync(connection2, "second"));

        // Identities are matched exactly: configuration keys are case-insensitive, PSK identities are not.
        await using var wrongCase = ClientFactory(o => (o.PskIdentity, o.PskKey) = ("DEVICE-1", TestPskKeyStore.Key));
        await Assert.ThrowsAsync<AuthenticationException>(() => wrongCase.ConnectAsync(host.DtlsEndPoint).AsTask());
    }

    [Fact]
    public async Task Client_raw_public_keys_from_configuration_admit_that_device_as_CoAP_servers_list_them()
    {
        var observer = new ConnectionObserver();
        using var device = TestRawPublicKeys.ClientKey();
        using var stranger = TestRawPublicKeys.NewKey();

        // Environment-variable style: Dtls__ClientRawPublicKeys__0=<sha256 hex>, as the CoAP sample's README shows.
        var section = ConfiguredDtlsHost.Section([.. PemCertificate, ("ClientRawPublicKeys:0", TestRawPublicKeys.Sha256Hex(device))]);
        await using var host = await ConfiguredDtlsHost.StartAsync(output, section, observer: observer);

        await using var factory = ClientFactory(o => o.ClientRawPublicKey = device);
        await using var connection = await factory.ConnectAsync(host.DtlsEndPoint);
        Assert.Equal("device", await EchoOnceAsync(connection, "device"));
        var observed = await observer.NextAsync();
        Assert.Equal(device.ExportSubjectPublicKeyInfo(), observed.Connection.Features.Get<IDtlsSessionFeature>()!.PeerRawPublicKey.ToArray());

        await using var strangers = ClientFactory(o => o.ClientRawPublicKey = stranger);
        var ex = await Assert.ThrowsAsync<AuthenticationException>(() => strangers.ConnectAsync(host.DtlsEndPoint).AsTask());
        Assert.Contains("access_denied", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("pem")]
    [InlineData("pem with its key")]
    [InlineData("encrypted pem key")]
    [InlineData("pfx")]
    public async Task Certificate_files_may_be_PEM_with_a_key_file_or_in_one_file_or_encrypted_or_PKCS12(string format)
    {
        const string password = "correct horse";
        var (settings, expected) = WriteCertificate(format, password);
        await using var host = await ConfiguredDtlsHost.StartAsync(output, ConfiguredDtlsHost.Section(settings));

        using var client = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint);
        client.Send(format);
        Assert.Equal(format, client.ReceiveText());
        Assert.Equal(expected, client.ServerCertificate!.GetEncoded());
    }

    [Fact]
    public async Task A_wrong_PKCS12_password_fails_start_naming_the_file_and_the_password_key()
    {
        var (settings, _) = WriteCertificate("pfx", "right");
        settings = [.. settings.Where(s => s.Key != "CertificatePassword"), ("CertificatePassword", "wrong")];
        var ex = await StartFailsAsync(ConfiguredDtlsHost.Section(settings));
        Assert.Contains("Dtls:CertificatePath '", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Dtls:CertificatePassword", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("wrong", ex.Message, StringComparison.Ordinal);
    }

    /// <summary>Writes the ECDSA development certificate in <paramref name="format"/>; returns the settings and the DER certificate.</summary>
    private ((string Key, string? Value)[] Settings, byte[] Certificate) WriteCertificate(string format, string password)
    {
        using var certificate = TestCertificates.EcdsaServer();
        using var key = certificate.GetECDsaPrivateKey()!;
        string certificatePem = certificate.ExportCertificatePem();
        string path = Path.Combine(_directory, "server." + (format == "pfx" ? "pfx" : "pem"));
        string keyPath = Path.Combine(_directory, "server.key");
        (string, string?)[] settings;
        switch (format)
        {
            case "pem":
                File.WriteAllText(path, certificatePem);
                File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
                settings = [("CertificatePath", path), ("KeyPath", keyPath)];
                break;
            case "pem with its key":
                File.WriteAllText(path, certificatePem + "\n" + key.ExportPkcs8PrivateKeyPem());
                settings = [("CertificatePath", path)];
                break;
            case "encrypted pem key":
                File.WriteAllText(path, certificatePem);
                File.WriteAllText(keyPath, key.ExportEncryptedPkcs8PrivateKeyPem(password,
                    new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 100_000)));
                settings = [("CertificatePath", path), ("KeyPath", keyPath), ("CertificatePassword", password)];
                break;
            default:
                File.WriteAllBytes(path, certificate.Export(X509ContentType.Pkcs12, password));
                settings = [("CertificatePath", path), ("CertificatePassword", password)];
                break;
        }

        return (settings, certificate.RawData);
    }

    public static TheoryData<string, string, string> BadValues => new()
    {
        { "HandshakeTimeout", "-00:00:01", "Dtls:HandshakeTimeout must be positive and at most 2147483647 ms; it is -00:00:01." },
        { "IdleTimeout", "00:00:00", "Dtls:IdleTimeout must be positive" },
        { "CookieKeyRotationInterval", "-00:01:00", "Dtls:CookieKeyRotationInterval must be positive" },
        { "CookieSecret", "00112233445566778899aabbccddee", "Dtls:CookieSecret has 15 bytes; it needs at least 16 (128 bits)." },
        { "CookieSecret", "not hex at all", "Dtls:CookieSecret is not a hexadecimal secret" },
        { "MaxConnections", "0", "Dtls:MaxConnections must be positive; it is 0." },
        { "ConnectionIdLength", "3", "Dtls:ConnectionIdLength must be 0 (no Connection IDs) or from 4 to 16 bytes; it is 3." },
        { "MaxHandshakesPerSecondPerAddress", "-5", "Dtls:MaxHandshakesPerSecondPerAddress must be positive; it is -5." },
        { "MaxConcurrentHandshakes", "0", "Dtls:MaxConcurrentHandshakes must be positive" },
        { "HandshakeQueueLength", "-1", "Dtls:HandshakeQueueLength must not be negative; it is -1." },
        { "ClientCertificateMode", "DelayCertificate", "Dtls:ClientCertificateMode DelayCertificate is not supported" },
        { "ClientCertificateMode", "7", "Dtls:ClientCertificateMode is 7, which is not one of" },
        { "ClientCertificateRevocationMode", "9", "Dtls:ClientCertificateRevocationMode is 9" },
        // The configuration binder's own errors (values it cannot convert) name the key as well.
        { "ClientCertificateMode", "Sometimes", "'Dtls:ClientCertificateMode'" },
        { "HandshakeTimeout", "soon", "'Dtls:HandshakeTimeout'" },
        { "MaxConnections", "many", "'Dtls:MaxConnections'" },
        { "EnableSessionResumption", "maybe", "'Dtls:EnableSessionResumption'" },
        { "HandshakeTimout", "00:00:05", "Dtls:HandshakeTimout is not a DTLS transport option (misspelt?)" },
        { "ServerCertificate", "server.pem", "Dtls:ServerCertificate cannot be set from configuration: use Dtls:CertificatePath (and Dtls:KeyPath)." },
        { "ClientCertificateAuthoritiesPath", "no-such-ca.pem", "Dtls:ClientCertificateAuthoritiesPath 'no-such-ca.pem' does not exist (looked for " },
        { "PskKeys:device-1", "0011", "Dtls:PskKeys:device-1 has 2 bytes; a pre-shared key needs at least 16" },
        { "ClientRawPublicKeys:0", "0011", "Dtls:ClientRawPublicKeys:0: '0011' is neither the SHA-256 of a SubjectPublicKeyInfo in hex (64 digits) nor a PEM public key." },
        { "ServerRawPublicKey", "server.key", "Dtls:ServerRawPublicKey cannot be set from configuration: it is a key: set it in code, or let the certificate's key serve clients that ask for a raw public key." },
        { "ClientRawPublicKeyStore", "x", "Dtls:ClientRawPublicKeyStore cannot be set from configuration: use Dtls:ClientRawPublicKeys." },
    };

    [Theory]
    [MemberData(nameof(BadValues))]
    public async Task A_bad_value_fails_start_with_a_message_naming_its_key(string key, string value, string expected)
    {
        var ex = await StartFailsAsync(ConfiguredDtlsHost.Section([.. PemCertificate, (key, value)]));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_bad_value_is_reported_at_once()
    {
        var ex = await StartFailsAsync(ConfiguredDtlsHost.Section(
            [.. PemCertificate, ("HandshakeTimeout", "-00:00:01"), ("MaxConnections", "0"), ("ClientCertificateMode", "DelayCertificate")]));
        var failures = Assert.IsType<OptionsValidationException>(ex).Failures.ToArray();
        Assert.Equal(3, failures.Length);
        Assert.Contains(failures, f => f.StartsWith("Dtls:HandshakeTimeout ", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Dtls:MaxConnections ", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Dtls:ClientCertificateMode ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_missing_certificate_file_fails_start()
    {
        string missing = Path.Combine(_directory, "missing.pem");
        var ex = await StartFailsAsync(ConfiguredDtlsHost.Section(("CertificatePath", missing), ("KeyPath", TestCertificates.ServerKey)));
        Assert.Contains($"Dtls:CertificatePath '{missing}' does not exist.", ex.Message, StringComparison.Ordinal);

        ex = await StartFailsAsync(ConfiguredDtlsHost.Section(("CertificatePath", TestCertificates.ServerPem), ("KeyPath", "missing.key")));
        Assert.Contains("Dtls:KeyPath 'missing.key' does not exist (looked for ", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n")]
    [InlineData("-----BEGIN CERTIFICATE-----\nMIIB")]
    [InlineData("garbage, not PEM at all")]
    [InlineData("")]
    public async Task A_garbage_certificate_file_fails_start(string contents)
    {
        string path = Path.Combine(_directory, "garbage.pem");
        File.WriteAllText(path, contents);
        var ex = await StartFailsAsync(ConfiguredDtlsHost.Section(("CertificatePath", path), ("KeyPath", TestCertificates.ServerKey)));
        Assert.Contains($"Dtls:CertificatePath '{path}' with Dtls:KeyPath '{TestCertificates.ServerKey}' cannot be loaded: ", ex.Message, StringComparison.Ordinal);
        if (contents.Length == 0)
        {
            Assert.EndsWith("cannot be loaded: The file is empty.", ex.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_key_that_does_not_match_the_certificate_fails_start()
    {
        var ex = await StartFailsAsync(ConfiguredDtlsHost.Section(("CertificatePath", TestCertificates.ServerPem), ("KeyPath", TestCertificates.ServerRsaKey)));
        Assert.Contains("Dtls:CertificatePath", ex.Message, StringComparison.Ordinal);
        Assert.Contains("cannot be loaded", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Certificate_settings_that_do_not_go_together_fail_start()
    {
        var ex = await StartFailsAsync(ConfiguredDtlsHost.Section(("KeyPath", TestCertificates.ServerKey)));
        Assert.Equal("Dtls:KeyPath is set, but Dtls:CertificatePath is not.", Assert.Single(Assert.IsType<OptionsValidationException>(ex).Failures));

        ex = await StartFailsAsync(ConfiguredDtlsHost.Section(("HandshakeTimeout", "00:00:05")));
        Assert.Contains("No server certificate: set Dtls:CertificatePath", ex.Message, StringComparison.Ordinal);

        ex = await StartFailsAsync(ConfiguredDtlsHost.Section(PemCertificate), o => o.ServerCertificate = TestCertificates.EcdsaServer());
        Assert.Contains("Dtls:CertificatePath and DtlsTransportOptions.ServerCertificate are both set", ex.Message, StringComparison.Ordinal);

        ex = await StartFailsAsync(ConfiguredDtlsHost.Section(("PskKeys:device-1", Convert.ToHexString(TestPskKeyStore.Key)),
            ("ClientCertificateMode", "RequireCertificate")));
        Assert.Contains("Dtls:ClientCertificateMode is RequireCertificate, but there is no server certificate", ex.Message, StringComparison.Ordinal);
        Assert.Contains("PSK-only", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bad_pre_shared_key_is_named_by_its_identity_and_never_shown()
    {
        const string secret = "00112233445566778899aabbccddeeXX";
        var ex = await StartFailsAsync(ConfiguredDtlsHost.Section([.. PemCertificate, ("PskKeys:device-7", secret)]));
        Assert.Contains("Dtls:PskKeys:device-7 is not a hexadecimal key", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("00112233", ex.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Options_set_in_code_after_the_section_are_named_as_properties()
    {
        var ex = await StartFailsAsync(ConfiguredDtlsHost.Section(PemCertificate), o => o.MaxConnections = 0);
        Assert.Contains("DtlsTransportOptions.MaxConnections must be positive; it is 0.", ex.Message, StringComparison.Ordinal);
    }

    private async Task<Exception> StartFailsAsync(IConfiguration section, Action<DtlsTransportOptions>? configure = null)
    {
        var ex = await Assert.ThrowsAnyAsync<Exception>(() => ConfiguredDtlsHost.StartAsync(output, section, configure));
        output.WriteLine($"{ex.GetType().Name}: {ex.Message}");
        Assert.True(ex is OptionsValidationException or InvalidOperationException, $"{ex.GetType()}: {ex}");
        return ex;
    }
}
