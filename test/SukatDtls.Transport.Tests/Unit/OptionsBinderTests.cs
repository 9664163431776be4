using System.Reflection;
using Microsoft.Extensions.Configuration;
using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// The library's own configuration binding (trimming- and AOT-safe) against <c>ConfigurationBinder.Bind</c>, the
/// reflection binder it replaced, as a second implementation: the same section must give the same options.
/// </summary>
public sealed class OptionsBinderTests
{
    /// <summary>A value for every option configuration can set, each different from its default.</summary>
    private static readonly Dictionary<string, string?> s_transportSection = new()
    {
        ["Dtls:HandshakeTimeout"] = "00:00:07",
        ["Dtls:IdleTimeout"] = "00:02:30",
        ["Dtls:UnsafePreferInlineScheduling"] = "True",
        ["Dtls:MaxConcurrentHandshakes"] = "77",
        ["Dtls:HandshakeQueueLength"] = "12",
        ["Dtls:AcceptQueueLength"] = "34",
        ["Dtls:CookieKeyRotationInterval"] = "00:00:45",
        ["Dtls:CookieSecret"] = "00112233445566778899aabbccddeeff",
        ["Dtls:ClientCertificateMode"] = "requirecertificate",
        ["Dtls:ClientCertificateRevocationMode"] = "Offline",
        ["Dtls:MaxDatagramSize"] = "1200",
        ["Dtls:ConnectionIdLength"] = "6",
        ["Dtls:HandshakeRetransmissionTimeout"] = "00:00:00.5",
        ["Dtls:PskIdentityHint"] = "hint",
        ["Dtls:ClientRawPublicKeys:0"] = "aa",
        ["Dtls:ClientRawPublicKeys:1"] = "bb",
        ["Dtls:EnableSessionResumption"] = "false",
        ["Dtls:MaxCachedSessions"] = "99",
        ["Dtls:SessionLifetime"] = "02:00:00",
        ["Dtls:MaxConnections"] = "5000",
        ["Dtls:MaxHandshakesPerSecondPerAddress"] = "3",
        ["Dtls:CertificatePath"] = "c.pem",
        ["Dtls:KeyPath"] = "k.pem",
        ["Dtls:CertificatePassword"] = "pw",
        ["Dtls:ClientCertificateAuthoritiesPath"] = "ca.pem",
        ["Dtls:PskKeys:device-1"] = "0102",
        ["Dtls:PskKeys:Device-2"] = "0304",
        // Keys the binder leaves to the options' validation (which names them).
        ["Dtls:ServerCertificate"] = "server.pem",
        ["Dtls:HandshakeTimout"] = "00:00:05",
    };

    [Fact]
    public void Every_option_configuration_can_set_is_bound_as_the_configuration_binder_binds_it()
    {
        var section = new ConfigurationBuilder().AddInMemoryCollection(s_transportSection).Build().GetSection("Dtls");

        var ours = new DtlsTransportOptions();
        OptionsBinder.Bind(section, ours);
        var reference = new DtlsTransportOptions();
        section.Bind(reference);

        var bindable = OptionsBinder.BindableProperties<DtlsTransportOptions>();
        // The section names every bindable option once (the two it names for validation are not bindable).
        var named = s_transportSection.Keys.Select(k => k.Split(':')[1]).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
        Assert.Equal(named.Count - 2, bindable.Count);
        Assert.All(bindable.Keys, k => Assert.Contains(k, named, StringComparer.OrdinalIgnoreCase));
        foreach (var property in bindable.Values)
        {
            Assert.Equal(Describe(property, reference), Describe(property, ours));
            Assert.NotEqual(Describe(property, new DtlsTransportOptions()), Describe(property, ours));
        }
    }

    [Fact]
    public void The_session_store_options_are_bound_as_the_configuration_binder_binds_them()
    {
        var section = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["S:EncryptionKey"] = "00112233445566778899aabbccddeeff",
            ["S:OperationTimeout"] = "00:00:00.250",
            ["S:KeyPrefix"] = "p:",
        }).Build().GetSection("S");

        var ours = new DtlsDistributedSessionCacheOptions();
        OptionsBinder.Bind(section, ours);
        var reference = new DtlsDistributedSessionCacheOptions();
        section.Bind(reference);

        Assert.Equal(3, OptionsBinder.BindableProperties<DtlsDistributedSessionCacheOptions>().Count);
        Assert.Equal((reference.EncryptionKey, reference.OperationTimeout, reference.KeyPrefix), (ours.EncryptionKey, ours.OperationTimeout, ours.KeyPrefix));
        Assert.Equal(TimeSpan.FromMilliseconds(250), ours.OperationTimeout);
    }

    [Theory]
    [InlineData("MaxConnections", "many", "System.Int32")]
    [InlineData("HandshakeTimeout", "soon", "System.TimeSpan")]
    [InlineData("EnableSessionResumption", "maybe", "System.Boolean")]
    [InlineData("ClientCertificateMode", "Sometimes", "Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode")]
    [InlineData("MaxCachedSessions", "99999999999", "System.Int32")]
    public void A_value_that_does_not_convert_fails_naming_its_key_and_type_but_not_the_value(string key, string value, string type)
    {
        var section = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [$"Dtls:{key}"] = value })
            .Build().GetSection("Dtls");

        var ex = Assert.Throws<InvalidOperationException>(() => OptionsBinder.Bind(section, new DtlsTransportOptions()));

        Assert.Equal($"Failed to convert configuration value at 'Dtls:{key}' to type '{type}'.", ex.Message);
    }

    [Fact]
    public void An_empty_value_clears_a_nullable_option()
    {
        var options = new DtlsTransportOptions { MaxConnections = 10 };
        var section = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Dtls:MaxConnections"] = "" })
            .Build().GetSection("Dtls");

        OptionsBinder.Bind(section, options);

        Assert.Null(options.MaxConnections);
    }

    private static string Describe(PropertyInfo property, object options) => property.GetValue(options) switch
    {
        IDictionary<string, string> d => string.Join(";", d.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => $"{e.Key}={e.Value}")),
        IList<string> l => string.Join(";", l),
        var v => $"{v}",
    };
}
