using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Org.BouncyCastle.Tls.Crypto;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.Internal;

/// <summary>Credentials made from a certificate, with what the log says about it and a fingerprint to spot changes.</summary>
internal sealed class LoadedServerCertificate
{
    private LoadedServerCertificate(CertificateCredentials credentials, string subject, string thumbprint, DateTime notAfter, byte[] fingerprint)
    {
        Credentials = credentials;
        Subject = subject;
        Thumbprint = thumbprint;
        NotAfter = notAfter;
        Fingerprint = fingerprint;
    }

    public CertificateCredentials Credentials { get; }

    public string Subject { get; }

    /// <summary>The SHA-256 hash of the certificate, in hex (as <c>openssl x509 -fingerprint -sha256</c>, without colons).</summary>
    public string Thumbprint { get; }

    public DateTime NotAfter { get; }

    /// <summary>A SHA-256 over the certificate and the chain sent with it: equal fingerprints, nothing to reload.</summary>
    public byte[] Fingerprint { get; }

    /// <exception cref="InvalidOperationException">The key is neither ECDSA nor RSA, or cannot be exported.</exception>
    public static LoadedServerCertificate Create(TlsCrypto crypto, X509Certificate2 certificate, X509Certificate2Collection? chain)
    {
        var credentials = CertificateCredentials.Create(crypto, certificate, chain);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(certificate.RawDataMemory.Span);
        if (chain is not null)
        {
            foreach (var extra in chain)
            {
                hash.AppendData(extra.RawDataMemory.Span);
            }
        }

        return new LoadedServerCertificate(credentials, certificate.Subject, certificate.GetCertHashString(HashAlgorithmName.SHA256),
            certificate.NotAfter.ToUniversalTime(), hash.GetHashAndReset());
    }
}
