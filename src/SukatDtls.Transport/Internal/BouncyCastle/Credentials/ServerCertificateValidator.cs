using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using SukatDtls.Transport.Client;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// Validates the certificate a DTLS server presented. BouncyCastle validates nothing itself, so this is the client's
/// whole defence against an impostor: insecure switch, pin, or an X.509 chain (custom roots or system trust) plus the
/// name check.
/// </summary>
internal static class ServerCertificateValidator
{

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
