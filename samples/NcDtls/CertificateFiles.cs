using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace SukatDtls.Samples.NcDtls;

/// <summary>
/// Loads PEM certificates and keys, turning every failure into one sentence that names the file and the problem
/// (missing, unreadable, no certificate, no usable key, key of another certificate).
/// </summary>
internal static class CertificateFiles
{
    private const string EcPublicKeyOid = "1.2.840.10045.2.1";
    private const string RsaPublicKeyOid = "1.2.840.113549.1.1.1";

    /// <summary>
    /// The first certificate of <paramref name="certificateFile"/> with the private key of <paramref name="keyFile"/>
    /// (or of the certificate file itself when null), and the other certificates of the file (intermediates).
    /// </summary>
    /// <exception cref="NcDtlsException">Any problem with the files.</exception>
    public static (X509Certificate2 Certificate, X509Certificate2Collection Chain) LoadWithKey(string certificateFile, string? keyFile)
    {
        string certificatePem = ReadFile(certificateFile, "certificate");
        var all = new X509Certificate2Collection();
        try
        {
            all.ImportFromPem(certificatePem);
        }
        catch (CryptographicException ex)
        {
            throw new NcDtlsException($"the certificate file '{certificateFile}' holds a damaged PEM certificate: {ex.Message}", ex);
        }

        if (all.Count == 0)
        {
            throw new NcDtlsException($"the certificate file '{certificateFile}' holds no PEM certificate (-----BEGIN CERTIFICATE-----).");
        }

        var certificate = all[0];
        all.RemoveAt(0);
        string keyPath = keyFile ?? certificateFile;
        string keyPem = keyFile is null ? certificatePem : ReadFile(keyFile, "private key");
        return (AttachKey(certificate, certificateFile, keyPem, keyPath), all);
    }

    /// <summary>The certificates of a PEM bundle of certificate authorities.</summary>
    /// <exception cref="NcDtlsException">The file is missing, unreadable or holds no certificate.</exception>
    public static X509Certificate2Collection LoadAuthorities(string caFile)
    {
        string pem = ReadFile(caFile, "CA");
        var authorities = new X509Certificate2Collection();
        try
        {
            authorities.ImportFromPem(pem);
        }
        catch (CryptographicException ex)
        {
            throw new NcDtlsException($"the CA file '{caFile}' holds a damaged PEM certificate: {ex.Message}", ex);
        }

        return authorities.Count > 0
            ? authorities
            : throw new NcDtlsException($"the CA file '{caFile}' holds no PEM certificate (-----BEGIN CERTIFICATE-----).");
    }

    private static X509Certificate2 AttachKey(X509Certificate2 certificate, string certificateFile, string keyPem, string keyFile)
    {
        string algorithm = certificate.GetKeyAlgorithm();
        if (algorithm is not (EcPublicKeyOid or RsaPublicKeyOid))
        {
            throw new NcDtlsException($"the certificate in '{certificateFile}' has a key of type {algorithm}; DTLS here needs ECDSA or RSA.");
        }

        // Which kind of key the file holds, if any, tells "no key at all" from "a key of another certificate".
        using var ecdsa = TryImport(ECDsa.Create(), keyPem);
        using var rsa = TryImport(RSA.Create(), keyPem);
        if (ecdsa is null && rsa is null)
        {
            throw new NcDtlsException(
                $"the key file '{keyFile}' holds no usable PEM private key (an unencrypted -----BEGIN PRIVATE KEY-----, EC PRIVATE KEY or RSA PRIVATE KEY).");
        }

        try
        {
            return algorithm == EcPublicKeyOid
                ? certificate.CopyWithPrivateKey(ecdsa ?? throw Mismatch(certificateFile, keyFile, "it is an RSA key, the certificate's is ECDSA"))
                : certificate.CopyWithPrivateKey(rsa ?? throw Mismatch(certificateFile, keyFile, "it is an ECDSA key, the certificate's is RSA"));
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            throw Mismatch(certificateFile, keyFile, "it is the key of another certificate");
        }
    }

    private static NcDtlsException Mismatch(string certificateFile, string keyFile, string why) =>
        new($"the private key in '{keyFile}' does not match the certificate in '{certificateFile}': {why}.");

    private static T? TryImport<T>(T key, string pem)
        where T : AsymmetricAlgorithm
    {
        try
        {
            key.ImportFromPem(pem);
            return key;
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            key.Dispose();
            return null;
        }
    }

    private static string ReadFile(string path, string what)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new NcDtlsException($"cannot read the {what} file '{path}': no such file.", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new NcDtlsException($"cannot read the {what} file '{path}': permission denied.", ex);
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or NotSupportedException)
        {
            throw new NcDtlsException($"cannot read the {what} file '{path}': {ex.Message}", ex);
        }
    }
}
