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
}
