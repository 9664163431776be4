using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>
/// A certificate authority made for one test: its own name (so nothing cached for another CA, such as .NET's CRL cache
/// keyed by issuer, can answer for it), client certificates whose CRL distribution point is a loopback URL, and the CRL
/// that revokes some of them.
/// </summary>
internal sealed class TestCertificateAuthority : IDisposable
{
    private readonly X509Certificate2 _ca;
    private readonly CertificateRevocationListBuilder _revoked = new();
    private BigInteger _crlNumber;

    public TestCertificateAuthority()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=SukatDtls Test CA {Guid.NewGuid():N}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        _ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-10), DateTimeOffset.UtcNow.AddDays(1));
    }

    /// <summary>The CA's certificate alone, for <c>ClientCertificateAuthorities</c>.</summary>
    public X509Certificate2Collection Trust() => [X509CertificateLoader.LoadCertificate(_ca.RawData)];

    /// <summary>A new ECDSA P-256 clientAuth certificate with its key, naming <paramref name="crlUri"/> as its CRL.</summary>
    public X509Certificate2 IssueClient(string commonName, Uri crlUri)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([TestClientCertificates.ClientAuthentication], critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_ca, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        request.CertificateExtensions.Add(CertificateRevocationListBuilder.BuildCrlDistributionPointExtension([crlUri.AbsoluteUri]));
        using var issued = request.Create(_ca, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(12), RandomNumberGenerator.GetBytes(16));
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>Adds <paramref name="certificate"/> to the revoked ones (the next <see cref="BuildCrl"/> lists it).</summary>
    public void Revoke(X509Certificate2 certificate) =>
        _revoked.AddEntry(certificate, DateTimeOffset.UtcNow.AddMinutes(-1), X509RevocationReason.KeyCompromise);

    /// <summary>A CRL signed by the CA, listing every certificate revoked so far, valid for an hour.</summary>
    public byte[] BuildCrl()
    {
        _crlNumber++;
        return _revoked.Build(_ca, _crlNumber, DateTimeOffset.UtcNow.AddHours(1), HashAlgorithmName.SHA256,
            thisUpdate: DateTimeOffset.UtcNow.AddMinutes(-1));
    }

    public void Dispose() => _ca.Dispose();
}
