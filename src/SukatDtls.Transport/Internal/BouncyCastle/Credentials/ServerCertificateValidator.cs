using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SukatDtls.Transport.Client;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// Validates the certificate a DTLS server presented. BouncyCastle validates nothing itself, so this is the client's
/// whole defence against an impostor: insecure switch, pin (of the certificate, or of its key by SHA-256), or an X.509
/// chain (custom roots or system trust) plus the name check; a raw public key (RFC 7250) by its pin alone.
/// </summary>
internal static class ServerCertificateValidator
{

    /// <summary>Checks a server's raw public key (RFC 7250) against <see cref="DtlsClientOptions.PinnedServerPublicKeySha256"/>.</summary>
    /// <param name="options">The client's options.</param>
    /// <param name="subjectPublicKeyInfo">The key the server presented (DER SubjectPublicKeyInfo).</param>
    /// <returns>Null when the key is acceptable, else why it is not.</returns>
    public static string? ValidateRawPublicKey(DtlsClientOptions options, byte[] subjectPublicKeyInfo)
    {
        if (options.DangerousAcceptAnyServerCertificate)
        {
            return null;
        }

        byte[] fingerprint = SHA256.HashData(subjectPublicKeyInfo);
        return options.PinnedServerPublicKeySha256 is { } pin && CryptographicOperations.FixedTimeEquals(fingerprint, pin)
            ? null
            : $"the server's public key (SHA-256 {Convert.ToHexStringLower(fingerprint)}) is not the pinned key"
                + (options.PinnedServerPublicKeySha256 is { } expected ? $" ({Convert.ToHexStringLower(expected)})" : "");
    }

    /// <returns>Null when the certificate is acceptable, else why it is not.</returns>
    public static string? Validate(DtlsClientOptions options, string serverName, X509Certificate2 leaf, X509Certificate2Collection intermediates)
    {
        if (options.DangerousAcceptAnyServerCertificate)
        {
            return null;
        }

        if (options.PinnedServerCertificate is { } pinned)
        {
            return leaf.RawDataMemory.Span.SequenceEqual(pinned.RawDataMemory.Span)
                ? null
                : $"the server certificate '{leaf.Subject}' (SHA-1 {leaf.Thumbprint}) is not the pinned certificate (SHA-1 {pinned.Thumbprint})";
        }

        if (options.PinnedServerPublicKeySha256 is not null)
        {
            return ValidateRawPublicKey(options, leaf.PublicKey.ExportSubjectPublicKeyInfo()) is { } problem
                ? $"the key of the server certificate '{leaf.Subject}': {problem}"
                : null;
        }

        using var chain = new X509Chain();
        CertificateChainPolicy.Configure(chain.ChainPolicy, CertificateChainPolicy.ServerAuthentication,
            X509RevocationMode.NoCheck, intermediates, options.TrustedCertificateAuthorities);

        if (!chain.Build(leaf))
        {
            var problems = chain.ChainStatus
                .Where(status => status.Status != X509ChainStatusFlags.NoError)
                .Select(status => status.StatusInformation.Trim())
                .Distinct();
            return $"the server certificate '{leaf.Subject}' is not trusted: {string.Join("; ", problems)}";
        }

        if (!leaf.MatchesHostname(serverName))
        {
            return $"the server certificate '{leaf.Subject}' is not valid for '{serverName}'";
        }

        return null;
    }
}
