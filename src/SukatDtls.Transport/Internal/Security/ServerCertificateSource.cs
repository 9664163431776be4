using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Org.BouncyCastle.Tls.Crypto;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The server certificate's files (<see cref="DtlsTransportOptions.CertificatePath"/>, <see cref="DtlsTransportOptions.KeyPath"/>),
/// resolved to absolute paths; loaded at start and again on every reload.
/// </summary>
/// <remarks>Not a record: its generated ToString would print the password.</remarks>
internal sealed class ServerCertificateSource
{
    private readonly string? _password;
    private readonly X509Certificate2Collection? _explicitChain;

    private ServerCertificateSource(string certificatePath, string? keyPath, string? password, X509Certificate2Collection? explicitChain)
    {
        CertificatePath = certificatePath;
        KeyPath = keyPath;
        _password = password;
        _explicitChain = explicitChain;
    }

    public string CertificatePath { get; }

    public string? KeyPath { get; }

    /// <summary>The certificate's files from the options, or null when the certificate does not come from a file.</summary>
    public static ServerCertificateSource? FromOptions(DtlsTransportOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.CertificatePath))
        {
            return null;
        }

        return new ServerCertificateSource(
            CertificateFiles.Resolve(options.CertificatePath, options.ContentRootPath),
            string.IsNullOrWhiteSpace(options.KeyPath) ? null : CertificateFiles.Resolve(options.KeyPath, options.ContentRootPath),
            string.IsNullOrEmpty(options.CertificatePassword) ? null : options.CertificatePassword,
            options.ServerCertificateChain);
    }

    /// <summary>Reads the files and converts the certificate for BouncyCastle.</summary>
    /// <exception cref="Exception">Whatever reading, parsing or converting throws (I/O, cryptographic, unusable key).</exception>
    public LoadedServerCertificate Load(TlsCrypto crypto)
    {
        var (certificate, fileChain) = CertificateFiles.LoadServerCertificate(CertificatePath, KeyPath, _password);
        try
        {
            return LoadedServerCertificate.Create(crypto, certificate, _explicitChain ?? fileChain);
        }
        finally
        {
            // BouncyCastle keeps copies (DER encodings, the key as PKCS#8): the .NET objects can go.
            certificate.Dispose();
            foreach (var extra in fileChain)
            {
                extra.Dispose();
            }
        }
    }
}

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
