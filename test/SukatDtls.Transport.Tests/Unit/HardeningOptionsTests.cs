using Microsoft.AspNetCore.Server.Kestrel.Https;
using Org.BouncyCastle.Tls;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Internal.BouncyCastle;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>The pieces of client authentication and PSK that need no network.</summary>
public sealed class HardeningOptionsTests
{
    [Theory]
    [InlineData(ClientCertificateMode.AllowCertificate)]
    [InlineData(ClientCertificateMode.RequireCertificate)]
    public void A_psk_only_server_cannot_ask_for_client_certificates(ClientCertificateMode mode)
    {
        var options = new DtlsTransportOptions { PskKeyStore = new TestPskKeyStore(), ClientCertificateMode = mode };
        var ex = Assert.Throws<InvalidOperationException>(options.Validate);
        Assert.Contains("PSK-only", ex.Message);

        options.ClientCertificateMode = ClientCertificateMode.NoCertificate;
        options.Validate();
    }

    [Fact]
    public void A_psk_only_server_needs_no_certificate_and_a_server_needs_one_or_the_other()
    {
        new DtlsTransportOptions { PskKeyStore = new TestPskKeyStore() }.Validate();
        Assert.Throws<InvalidOperationException>(new DtlsTransportOptions().Validate);
    }

    /// <summary>
    /// The shortest protected fragment of each suite (an empty record: explicit nonce or IV, padding, tag or MAC), and
    /// CBC records growing by whole blocks: the same bounds BouncyCastle 2.7's own record layer decodes (measured
    /// against it when it still carried the records: one byte less ended the connection with decode_error).
    /// </summary>
    [Theory]
    [InlineData(CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, true, 24, 0)]
    [InlineData(CipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, true, 24, 0)]
    [InlineData(CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, true, 16, 0)]
    [InlineData(CipherSuite.TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256, true, 16, 0)]
    [InlineData(CipherSuite.TLS_PSK_WITH_AES_128_GCM_SHA256, true, 24, 0)]
    [InlineData(CipherSuite.TLS_PSK_WITH_AES_128_CCM, true, 24, 0)]
    [InlineData(CipherSuite.TLS_PSK_WITH_AES_128_CCM_8, true, 16, 0)]
    [InlineData(CipherSuite.TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256, true, 64, 16)] // IV + block + HMAC-SHA256
    [InlineData(CipherSuite.TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256, false, 64, 16)] // IV + blocks of MAC and padding
    [InlineData(CipherSuite.TLS_ECDHE_PSK_WITH_AES_256_CBC_SHA384, true, 80, 16)]
    [InlineData(CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, true, 52, 0)] // HMAC-SHA1 is not block-aligned
    [InlineData(CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, false, 48, 16)]
    public void The_record_layer_knows_the_shortest_record_of_each_cipher(int suite, bool encryptThenMac, int minimum, int blockSize)
    {
        var protection = RecordSuite.Of(suite)!;
        using var cipher = protection.CreateCipher(new byte[protection.KeyBlockLength], client: true, encryptThenMac, connectionId: []);
        Assert.Equal(minimum, cipher.SealedLength(0));
        for (int length = 0; length <= 40 && blockSize > 0; length++)
        {
            // CBC records grow by whole blocks, whatever the content's length.
            Assert.Equal(0, (cipher.SealedLength(length) - minimum) % blockSize);
        }
    }

    [Fact]
    public void Psk_identities_are_logged_readably_and_safely()
    {
        Assert.Equal("'device-1'", PskCipherSuites.Describe("device-1"u8));
        Assert.Equal("0x00FF0A", PskCipherSuites.Describe([0x00, 0xFF, 0x0A]));
        Assert.Equal("0x410A42", PskCipherSuites.Describe("A\nB"u8)); // no line breaks forged into the log
        Assert.EndsWith("… (200 bytes)", PskCipherSuites.Describe(new byte[200].AsSpan().ToArray().Select(_ => (byte)'x').ToArray()));
    }

    [Fact]
    public void Every_offered_psk_suite_is_supported_by_BouncyCastle_for_DTLS_1_2()
    {
        var crypto = new Org.BouncyCastle.Tls.Crypto.Impl.BC.BcTlsCrypto(new Org.BouncyCastle.Security.SecureRandom());
        Assert.Equal(PskCipherSuites.All, TlsUtilities.GetSupportedCipherSuites(crypto, PskCipherSuites.All));
        Assert.All(PskCipherSuites.All, suite => Assert.True(TlsUtilities.IsValidVersionForCipherSuite(suite, ProtocolVersion.DTLSv12)));
        Assert.All(PskCipherSuites.All, suite => Assert.True(PskCipherSuites.IsPskKeyExchange(TlsUtilities.GetKeyExchangeAlgorithm(suite))));
    }
}
