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
