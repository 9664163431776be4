using Microsoft.Extensions.Configuration;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// One set of rules for the options, whether they are checked at bind (<see cref="DtlsTransportOptions.Validate"/>) or
/// at host start (<see cref="DtlsTransportOptionsValidator"/>), naming a property or a configuration key.
/// </summary>
public sealed class DtlsTransportOptionsRulesTests
{
    private static DtlsTransportOptions Bound(params (string Key, string? Value)[] settings)
    {
        var section = ConfiguredDtlsHost.Section(settings);
        var options = new DtlsTransportOptions();
        options.ConfigurationSections.Add(section);
        section.Bind(options);
        return options;
    }

    [Fact]
    public void Options_set_in_code_are_named_by_property()
    {
        var options = new DtlsTransportOptions { ServerCertificate = TestCertificates.EcdsaServer(), HandshakeTimeout = TimeSpan.FromSeconds(-1), MaxConnections = 0 };
        var ex = Assert.Throws<InvalidOperationException>(options.Validate);
        Assert.Contains("DtlsTransportOptions.HandshakeTimeout must be positive and at most 2147483647 ms; it is -00:00:01.", ex.Message, StringComparison.Ordinal);
        Assert.Contains("DtlsTransportOptions.MaxConnections must be positive; it is 0.", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bound_options_are_named_by_key_and_both_checks_find_the_same()
    {
        var options = Bound(("CertificatePath", TestCertificates.ServerPem), ("KeyPath", TestCertificates.ServerKey), ("HandshakeTimeout", "-00:00:01"));
        options.MaxConnections = 0; // set in code: not in the section

        var failures = DtlsTransportOptionsRules.Check(options);
        Assert.Equal(
        [
            "Dtls:HandshakeTimeout must be positive and at most 2147483647 ms; it is -00:00:01.",
            "DtlsTransportOptions.MaxConnections must be positive; it is 0.",
        ], failures);

        var validated = new DtlsTransportOptionsValidator().Validate(null, options);
        Assert.True(validated.Failed);
        Assert.Equal(failures, validated.Failures);
        Assert.Equal(string.Join(Environment.NewLine, failures), Assert.Throws<InvalidOperationException>(options.Validate).Message);
    }

    [Fact]
    public void Good_bound_options_pass_both_checks()
    {
        var options = Bound(("CertificatePath", TestCertificates.ServerPem), ("KeyPath", TestCertificates.ServerKey),
            ("IdleTimeout", "-00:00:00.001"), ("MaxConnections", ""));
        Assert.Equal(Timeout.InfiniteTimeSpan, options.IdleTimeout);
        Assert.Null(options.MaxConnections);
        Assert.Empty(DtlsTransportOptionsRules.Check(options));
        Assert.True(new DtlsTransportOptionsValidator().Validate(null, options).Succeeded);
        options.Validate();
    }

    [Fact]
    public void Relative_paths_start_at_the_content_root()
    {
        var options = Bound(("CertificatePath", "certs/server.pem"), ("KeyPath", "certs/server.key"));
        options.ContentRootPath = AppContext.BaseDirectory;
        Assert.Empty(DtlsTransportOptionsRules.Check(options));

        options.ContentRootPath = Path.GetTempPath();
        var failure = Assert.Single(DtlsTransportOptionsRules.Check(options));
        Assert.Equal($"Dtls:CertificatePath 'certs/server.pem' does not exist (looked for {Path.Combine(Path.GetTempPath(), "certs", "server.pem")}).", failure);
    }

    [Fact]
    public void Every_configurable_key_is_a_scalar_a_path_the_psk_table_or_the_client_key_list()
    {
        Assert.Equal(
        [
            "AcceptQueueLength", "CertificatePassword", "CertificatePath", "ClientCertificateAuthoritiesPath", "ClientCertificateMode",
            "ClientCertificateRevocationMode", "ClientRawPublicKeys", "ConnectionIdLength", "CookieKeyRotationInterval", "CookieSecret",
            "EnableSessionResumption", "HandshakeQueueLength",
            "HandshakeRetransmissionTimeout", "HandshakeTimeout", "IdleTimeout", "KeyPath", "MaxCachedSessions",
            "MaxConcurrentHandshakes", "MaxConnections", "MaxDatagramSize", "MaxHandshakesPerSecondPerAddress", "PskIdentityHint",
            "PskKeys", "SessionLifetime", "UnsafePreferInlineScheduling",
        ], DtlsTransportOptionsRules.ConfigurationKeys);
    }

    [Fact]
    public void A_psk_table_in_code_is_checked_as_well_and_never_shows_a_key()
    {
        var options = new DtlsTransportOptions();
        options.PskKeys["device-1"] = "0102";
        options.PskKeys["device-2"] = "secret!";
        var ex = Assert.Throws<InvalidOperationException>(options.Validate);
        Assert.Contains("DtlsTransportOptions.PskKeys[\"device-1\"] has 2 bytes", ex.Message, StringComparison.Ordinal);
        Assert.Contains("DtlsTransportOptions.PskKeys[\"device-2\"] is not a hexadecimal key", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret!", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_configuration_key_store_matches_identities_exactly()
    {
        var store = new ConfigurationPskKeyStore(new Dictionary<string, string> { ["device-1"] = "000102030405060708090a0b0c0d0e0f" });
        Assert.Equal(TestPskKeyStore.Key, await store.GetKeyAsync("device-1"u8.ToArray(), default));
        Assert.Null(await store.GetKeyAsync("Device-1"u8.ToArray(), default));
        Assert.Null(await store.GetKeyAsync(new byte[] { 0xFF, 0xFE }, default));
    }
}
