using System.Security.Cryptography.X509Certificates;
using Org.BouncyCastle.Security;
using SukatDtls.Transport.Internal.BouncyCastle;
using SukatDtls.Transport.Tests.Infrastructure;
using Xunit;

namespace SukatDtls.Transport.Tests.Unit;

public sealed class CertificateCredentialsTests
{
    [Fact]
    public void The_chain_is_sent_as_the_certificates_own_bytes_encoded_once()
    {
        using var leaf = TestCertificates.EcdsaServer();
        using var ca = X509Certificate2.CreateFromPem(File.ReadAllText(TestCertificates.CaPem));
        // The CA is self-signed, so it is left out of the chain a server sends; an intermediate (here: the leaf's own
        // issuer stand-in, the RSA server certificate) is kept.
        using var intermediate = X509Certificate2.CreateFromPem(File.ReadAllText(TestCertificates.ServerRsaPem));
        var credentials = CertificateCredentials.Create(new PlatformTlsCrypto(new SecureRandom()), leaf, [intermediate, ca]);

        Assert.Equal(2, credentials.Chain.Length);
        var first = credentials.Chain.GetCertificateAt(0);
        Assert.Equal(leaf.RawData, first.GetEncoded());
        Assert.Equal(intermediate.RawData, credentials.Chain.GetCertificateAt(1).GetEncoded());

        // Every handshake writes these bytes: the same array each time, not an encoding made anew.
        Assert.Same(first.GetEncoded(), first.GetEncoded());
    }

    // RFC 7250: a raw public key's Certificate message is the SubjectPublicKeyInfo alone, of the certificate's key when
    // a client asks for a key, or of ServerRawPublicKey; written as the same bytes every handshake, as the chain is.
    [Fact]
    public void The_certificates_key_and_a_configured_key_are_presented_as_their_SubjectPublicKeyInfo_encoded_once()
    {
        var crypto = new PlatformTlsCrypto(new SecureRandom());
        using var leaf = TestCertificates.EcdsaServer();
        var certificate = CertificateCredentials.Create(crypto, leaf, null);
        Assert.False(certificate.IsRawPublicKey);
        Assert.True(certificate.RawPublicKey.IsRawPublicKey);
        Assert.Equal(Org.BouncyCastle.Tls.CertificateType.RawPublicKey, certificate.RawPublicKey.Chain.CertificateType);
        var raw = Assert.Single(certificate.RawPublicKey.Chain.GetCertificateList());
        Assert.Equal(leaf.PublicKey.ExportSubjectPublicKeyInfo(), raw.GetEncoded());
        Assert.Same(raw.GetEncoded(), raw.GetEncoded());
        Assert.Equal(certificate.CipherSuites, certificate.RawPublicKey.CipherSuites);

        using var key = TestRawPublicKeys.NewKey();
        var configured = CertificateCredentials.CreateRawPublicKey(crypto, key);
        Assert.Same(configured, configured.RawPublicKey);
        var entry = Assert.Single(configured.Chain.GetCertificateList());
        Assert.Equal(key.ExportSubjectPublicKeyInfo(), entry.GetEncoded());
        Assert.Same(entry.GetEncoded(), entry.GetEncoded());
        Assert.Contains(Org.BouncyCastle.Tls.CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, configured.CipherSuites);
    }
}
