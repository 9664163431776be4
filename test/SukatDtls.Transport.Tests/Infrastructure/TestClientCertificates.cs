using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>
/// Client certificates for the client authentication tests: the committed development client certificate, and
/// certificates made on the fly (signed by the development CA's key, or self-signed), so nothing new is committed.
/// </summary>
internal static class TestClientCertificates
{
    public static readonly Oid ClientAuthentication = new("1.3.6.1.5.5.7.3.2");

    public static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1");

    public static string CaKey => TestCertificates.Path_("ca.key");

    /// <summary>The development CA (certificate only), for <c>ClientCertificateAuthorities</c>.</summary>
    public static X509Certificate2Collection DevCa()
    {
        var authorities = new X509Certificate2Collection();
        authorities.ImportFromPemFile(TestCertificates.CaPem);
        return authorities;
    }

    /// <summary>certs/client.pem with its key: CN=SukatDtls Dev Client, clientAuth, signed by the development CA.</summary>
    public static X509Certificate2 DevClient() => X509Certificate2.CreateFromPemFile(TestCertificates.ClientPem, TestCertificates.ClientKey);

    /// <summary>A new ECDSA P-256 certificate with its private key, signed by the development CA.</summary>
    /// <param name="commonName">The subject's CN.</param>
    /// <param name="extendedKeyUsage">The only EKU, e.g. <see cref="ClientAuthentication"/> or <see cref="ServerAuthentication"/>.</param>
    /// <param name="expired">Valid from the CA's start until a second ago.</param>
    public static X509Certificate2 SignedByDevCa(string commonName, Oid extendedKeyUsage, bool expired = false)
    {
        using var ca = X509Certificate2.CreateFromPemFile(TestCertificates.CaPem, CaKey);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = NewRequest(commonName, key, extendedKeyUsage);
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, includeKeyIdentifier: true, includeIssuerAndSerial: false));

        // A certificate may not start before its issuer: an expired one lives from the CA's start until a second ago.
        var caStart = new DateTimeOffset(ca.NotBefore.ToUniversalTime(), TimeSpan.Zero);
        var notBefore = expired ? caStart : DateTimeOffset.UtcNow.AddMinutes(-5) < caStart ? caStart : DateTimeOffset.UtcNow.AddMinutes(-5);
        var notAfter = expired ? DateTimeOffset.UtcNow.AddSeconds(-1) : DateTimeOffset.UtcNow.AddDays(1);
        if (notAfter <= notBefore)
        {
            throw new InvalidOperationException("The development CA was made less than a second ago; an expired certificate cannot be nested in it yet.");
        }

        using var issued = request.Create(ca, notBefore, notAfter, RandomNumberGenerator.GetBytes(16));
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>
    /// The same certificate and key with the CA's signature spoilt (its last byte changed): a forgery that names a
    /// trusted issuer. The DER stays well formed (the byte is inside the signature's last INTEGER).
    /// </summary>
    public static X509Certificate2 WithBrokenSignature(X509Certificate2 certificate)
    {
        using (certificate)
        {
            byte[] der = certificate.RawData;
            der[^1] ^= 0x01;
            using var key = certificate.GetECDsaPrivateKey()!;
            using var forged = X509CertificateLoader.LoadCertificate(der);
            return forged.CopyWithPrivateKey(key);
        }
    }

    /// <summary>A new self-signed ECDSA P-256 client certificate (signed by nobody the server trusts).</summary>
    public static X509Certificate2 SelfSigned(string commonName)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = NewRequest(commonName, key, ClientAuthentication);
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
    }

    private static CertificateRequest NewRequest(string commonName, ECDsa key, Oid extendedKeyUsage)
    {
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([extendedKeyUsage], critical: false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        return request;
    }
}
