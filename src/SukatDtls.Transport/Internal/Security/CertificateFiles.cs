using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// Reads certificates from files: the server certificate (PEM certificate and key, a PEM file with both, or PKCS#12)
/// and PEM bundles of CA certificates. Each file is read once per load, so a load sees one version of each file.
/// </summary>
internal static class CertificateFiles
{
    private static readonly byte[] s_pemBegin = "-----BEGIN "u8.ToArray();

    /// <summary>An absolute path: <paramref name="path"/> relative to <paramref name="baseDirectory"/> (else the current directory).</summary>
    public static string Resolve(string path, string? baseDirectory) =>
        Path.GetFullPath(path, baseDirectory is { Length: > 0 } ? Path.GetFullPath(baseDirectory) : Environment.CurrentDirectory);

    /// <summary>Whether the file is PEM text (else it is taken as PKCS#12).</summary>
    public static bool IsPem(ReadOnlySpan<byte> contents)
    {
        // A UTF-8 byte order mark and leading white space (or explanatory text) may come before the first label.
        return contents.IndexOf(s_pemBegin) >= 0;
    }

    /// <summary>
    /// Loads the server certificate with its private key, and the other certificates of its file (the chain).
    /// </summary>
    /// <param name="certificatePath">An absolute path: PEM (certificate first, then intermediates) or PKCS#12.</param>
    /// <param name="keyPath">The PEM private key, or null when it is in <paramref name="certificatePath"/>.</param>
    /// <param name="password">The PKCS#12 password, or the password of an encrypted PEM key.</param>
    /// <exception cref="CryptographicException">A file is not what it should be (the message says what).</exception>
    /// <exception cref="IOException">A file cannot be read.</exception>
    /// <exception cref="UnauthorizedAccessException">A file cannot be read.</exception>
    public static (X509Certificate2 Certificate, X509Certificate2Collection Chain) LoadServerCertificate(string certificatePath, string? keyPath, string? password)
    {
        byte[] contents = File.ReadAllBytes(certificatePath);
        if (contents.Length == 0)
        {
            throw new CryptographicException("The file is empty.");
        }

        if (!IsPem(contents))
        {
            if (keyPath is not null)
            {
                throw new CryptographicException("It is not PEM, so it is taken as PKCS#12, which holds its own private key: a separate key file does not go with it.");
            }

            return LoadPkcs12(contents, password);
        }

        string certificatePem = Encoding.UTF8.GetString(contents);
        string keyPem = keyPath is null ? certificatePem : File.ReadAllText(keyPath);
        var certificate = password is null
            ? X509Certificate2.CreateFromPem(certificatePem, keyPem)
            : X509Certificate2.CreateFromEncryptedPem(certificatePem, keyPem, password);
        try
        {
            var all = new X509Certificate2Collection();
            all.ImportFromPem(certificatePem);
            var chain = new X509Certificate2Collection();
            foreach (var other in all)
            {
                if (other.RawDataMemory.Span.SequenceEqual(certificate.RawDataMemory.Span))
                {
                    other.Dispose();
                }
                else
                {
                    chain.Add(other);
                }
            }

            return (certificate, chain);
        }
        catch
        {
            certificate.Dispose();
            throw;
        }
    }

    /// <summary>The CA certificates of a PEM bundle; at least one, or a <see cref="CryptographicException"/>.</summary>
    public static X509Certificate2Collection LoadPemBundle(string path)
    {
        var authorities = new X509Certificate2Collection();
        authorities.ImportFromPem(File.ReadAllText(path));
        if (authorities.Count == 0)
        {
            throw new CryptographicException("It contains no PEM certificate (-----BEGIN CERTIFICATE-----).");
        }

        return authorities;
    }

    private static (X509Certificate2 Certificate, X509Certificate2Collection Chain) LoadPkcs12(byte[] contents, string? password)
    {
        // Exportable: the key is handed to BouncyCastle as PKCS#8. Ephemeral: nothing is written to a key store
        // (macOS has no ephemeral keys).
        var flags = X509KeyStorageFlags.Exportable | (OperatingSystem.IsMacOS() ? X509KeyStorageFlags.DefaultKeySet : X509KeyStorageFlags.EphemeralKeySet);
        var all = X509CertificateLoader.LoadPkcs12Collection(contents, password, flags);
        X509Certificate2? certificate = null;
        var chain = new X509Certificate2Collection();
        foreach (var entry in all)
        {
            if (certificate is null && entry.HasPrivateKey)
            {
                certificate = entry;
            }
            else
            {
                chain.Add(entry);
            }
        }

        if (certificate is null)
        {
            foreach (var entry in chain)
            {
                entry.Dispose();
            }

            throw new CryptographicException("The PKCS#12 file holds no certificate with a private key.");
        }

        return (certificate, chain);
    }
}
