using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using SukatDtls.Transport.Client;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>The raw public key options (RFC 7250) of the server and the client: what is accepted, and the messages for what is not.</summary>
public sealed class RawPublicKeyOptionsTests
{
    [Fact]
    public void A_server_with_only_a_raw_public_key_is_valid_and_one_with_only_a_psk_cannot_take_client_keys()
    {
        using var key = TestRawPublicKeys.NewKey();
        Assert.Empty(DtlsTransportOptionsRules.Check(new DtlsTransportOptions { ServerRawPublicKey = key }));

        var pskOnly = new DtlsTransportOptions { PskKeyStore = new TestPskKeyStore() };
        pskOnly.ClientRawPublicKeys.Add(TestRawPublicKeys.Sha256Hex(key));
        var failure = Assert.Single(DtlsTransportOptionsRules.Check(pskOnly));
        Assert.StartsWith("DtlsTransportOptions.ClientRawPublicKeys is set, but there is no server certificate", failure, StringComparison.Ordinal);
        Assert.Contains("ServerRawPublicKey", failure, StringComparison.Ordinal);

        // A raw public key of its own is enough for the server to take client keys.
        pskOnly.ServerRawPublicKey = key;
        Assert.Empty(DtlsTransportOptionsRules.Check(pskOnly));
    }

    [Fact]
    public void A_server_key_off_P256_or_without_its_private_part_is_refused_by_name()
    {
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        var failure = Assert.Single(DtlsTransportOptionsRules.Check(new DtlsTransportOptions { ServerRawPublicKey = p384 }));
        Assert.StartsWith("DtlsTransportOptions.ServerRawPublicKey is not on the P-256 curve (secp256r1)", failure, StringComparison.Ordinal);

        using var full = TestRawPublicKeys.NewKey();
        using var publicOnly = ECDsa.Create();
        publicOnly.ImportSubjectPublicKeyInfo(full.ExportSubjectPublicKeyInfo(), out _);
        failure = Assert.Single(DtlsTransportOptionsRules.Check(new DtlsTransportOptions { ServerRawPublicKey = publicOnly }));
        Assert.StartsWith("DtlsTransportOptions.ServerRawPublicKey cannot be used (it needs its private key, exportable)", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void Client_key_entries_are_a_sha256_in_hex_or_a_PEM_public_key_and_not_together_with_a_store()
    {
        using var key = TestRawPublicKeys.NewKey();
        var options = new DtlsTransportOptions { ServerCertificate = TestCertificates.EcdsaServer(), ClientRawPublicKeyStore = new TestRawPublicKeyStore() };
        options.ClientRawPublicKeys.Add(TestRawPublicKeys.Sha256Hex(key).ToUpperInvariant());
        options.ClientRawPublicKeys.Add(key.ExportSubjectPublicKeyInfoPem());
        options.ClientRawPublicKeys.Add("abcd");
        options.ClientRawPublicKeys.Add(key.ExportECPrivateKeyPem());
        options.ClientRawPublicKeys.Add("-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----");

        var failures = DtlsTransportOptionsRules.Check(options);
        Assert.Equal(
        [
            "DtlsTransportOptions.ClientRawPublicKeys and DtlsTransportOptions.ClientRawPublicKeyStore are both set; set one of them.",
            "DtlsTransportOptions.ClientRawPublicKeys[\"2\"]: 'abcd' is neither the SHA-256 of a SubjectPublicKeyInfo in hex (64 digits) nor a PEM public key.",
            "DtlsTransportOptions.ClientRawPublicKeys[\"3\"]: a PEM entry must be a '-----BEGIN PUBLIC KEY-----' block (SubjectPublicKeyInfo; 'openssl pkey -in device.key -pubout' writes one).",
            "DtlsTransportOptions.ClientRawPublicKeys[\"4\"]: the PEM public key is not a readable SubjectPublicKeyInfo.",
        ], failures);
        Assert.DoesNotContain(failures, f => f.Contains("PRIVATE KEY-----\n", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_configuration_key_store_admits_exactly_the_listed_keys()
    {
        using var listed = TestRawPublicKeys.NewKey();
        using var pem = TestRawPublicKeys.NewKey();
        using var other = TestRawPublicKeys.NewKey();
        var store = ConfigurationRawPublicKeyStore.Create([TestRawPublicKeys.Sha256Hex(listed), pem.ExportSubjectPublicKeyInfoPem()]);
        Assert.Equal(2, store.Count);
        Assert.True(await store.IsAllowedAsync(listed.ExportSubjectPublicKeyInfo(), default));
        Assert.True(await store.IsAllowedAsync(pem.ExportSubjectPublicKeyInfo(), default));
        Assert.False(await store.IsAllowedAsync(other.ExportSubjectPublicKeyInfo(), default));
        Assert.False(await store.IsAllowedAsync(TestRawPublicKeys.Sha256(listed), default)); // a hash is not a key
    }

    [Fact]
    public void Client_options_name_what_does_not_go_together()
    {
        using var key = TestRawPublicKeys.NewKey();
        using var certificate = TestClientCertificates.DevClient();
        var ex = Assert.Throws<InvalidOperationException>(() => new DtlsConnectionFactory(Options.Create(new DtlsClientOptions
        {
            ClientCertificate = certificate,
            ClientRawPublicKey = key,
            PinnedServerPublicKeySha256 = new byte[20],
            PinnedServerCertificate = TestCertificates.EcdsaServer(),
        }), Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance));
        Assert.Equal(string.Join(Environment.NewLine,
            "DtlsClientOptions.ClientCertificate and ClientRawPublicKey are both set; a client authenticates with one of them.",
            "DtlsClientOptions.PinnedServerPublicKeySha256 has 20 bytes; a SHA-256 has 32.",
            "DtlsClientOptions.PinnedServerCertificate and PinnedServerPublicKeySha256 are both set; pin one of them."), ex.Message);

        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        ex = Assert.Throws<InvalidOperationException>(() => new DtlsConnectionFactory(Options.Create(new DtlsClientOptions { ClientRawPublicKey = p384 }),
            Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance));
        Assert.StartsWith("DtlsClientOptions.ClientRawPublicKey is not on the P-256 curve", ex.Message, StringComparison.Ordinal);
    }
}
