using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// How both sides validate the other's certificate chain (BouncyCastle validates none): the purpose the leaf must
/// carry, the intermediates the peer sent, and either custom root trust (the configured authorities) or the system's.
/// </summary>
internal static class CertificateChainPolicy
{
    public static readonly Oid ServerAuthentication = new("1.3.6.1.5.5.7.3.1");
    public static readonly Oid ClientAuthentication = new("1.3.6.1.5.5.7.3.2");

    public static void Configure(X509ChainPolicy policy, Oid purpose, X509RevocationMode revocationMode,
        X509Certificate2Collection intermediates, X509Certificate2Collection? trustedAuthorities)
    {
        policy.RevocationMode = revocationMode;
        policy.ApplicationPolicy.Add(purpose);
        policy.ExtraStore.AddRange(intermediates);
        if (trustedAuthorities is { Count: > 0 })
        {
            policy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            policy.CustomTrustStore.AddRange(trustedAuthorities);
        }
    }
}
