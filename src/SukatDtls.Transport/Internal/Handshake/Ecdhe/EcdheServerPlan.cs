using Org.BouncyCastle.Tls;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.Internal.Ecdhe;

/// <summary>
/// What the server's own handshake negotiates for one ClientHello — suite, group, signature scheme — or why it leaves
/// the handshake to BouncyCastle. It takes a handshake only when it would choose exactly what BouncyCastle's
/// <see cref="DtlsServerPeer"/> chooses: the first suite of the client's list that the server offers (BouncyCastle
/// honours the client's order), the client's first curve, the first signature scheme of the client's that the key
/// makes.
/// </summary>
/// <remarks>
/// The common case only: a full handshake with an X.509 certificate, ECDHE with X25519 or P-256, an AEAD suite, the
/// extended master secret (RFC 7627), no client certificate. Everything else — resumption, PSK, raw public keys,
/// client certificates, Connection IDs, negotiated fragment sizes, other curves, clients without RFC 7627 — stays
/// BouncyCastle's, which negotiates it as before.
/// </remarks>
internal sealed class EcdheServerPlan
{
    private EcdheServerPlan(CertificateCredentials credentials, int cipherSuite, RecordSuite recordSuite, int namedGroup, SignatureAndHashAlgorithm signature)
    {
        Credentials = credentials;
        CipherSuite = cipherSuite;
        RecordSuite = recordSuite;
        NamedGroup = namedGroup;
        Signature = signature;
    }

    public CertificateCredentials Credentials { get; }

    public int CipherSuite { get; }

    public RecordSuite RecordSuite { get; }

    /// <summary>The ECDHE group: <see cref="Org.BouncyCastle.Tls.NamedGroup.x25519"/> or <see cref="Org.BouncyCastle.Tls.NamedGroup.secp256r1"/>.</summary>
    public int NamedGroup { get; }

    public SignatureAndHashAlgorithm Signature { get; }

    /// <summary>Whether the suite's PRF (and transcript hash) is SHA-384 rather than SHA-256.</summary>
    public bool UsesSha384 => CipherSuiteNames.Get(CipherSuite).EndsWith("_SHA384", StringComparison.Ordinal);

    /// <summary>The plan for <paramref name="clientHello"/>, or null when BouncyCastle's handshake takes it.</summary>
    public static EcdheServerPlan? For(ServerPeerSettings settings, ClientHelloMessage clientHello)
    {
        var options = settings.Options;
        if (clientHello.NeedsBouncyCastle || !clientHello.OffersExtendedMasterSecret
            || settings.Credentials is not { IsRawPublicKey: false } credentials || settings.RawPublicKey is not null
            || options.ClientCertificateMode != Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.NoCertificate
            || (settings.Sessions is not null && !clientHello.SessionId.IsEmpty)
            || clientHello.SupportedGroups is not { } groups || clientHello.SignatureAlgorithms is not { } signatureAlgorithms)
        {
            return null;
        }

        // BouncyCastle takes the first suite of the client's list that the server offers and can use (the server's
        // suites are the certificate's, then the PSK ones when there is a key store): that one must be ours.
        int suite = FirstCommonSuite(clientHello.CipherSuites, credentials.CipherSuites, options.PskKeyStore is null ? [] : PskCipherSuites.All);
        if (suite < 0 || Array.IndexOf(credentials.CipherSuites, suite) < 0 || RecordSuite.Of(suite) is not { Aead: not null } recordSuite)
        {
            return null;
        }

        // BouncyCastle's curve: the client's first elliptic curve (RFC 8422 §5.1.1: in its order of preference).
        int group = Array.Find(groups, static g => Org.BouncyCastle.Tls.NamedGroup.GetCurveBits(g) > 0);
        if (group is not (Org.BouncyCastle.Tls.NamedGroup.secp256r1 or Org.BouncyCastle.Tls.NamedGroup.x25519)
            || (group == Org.BouncyCastle.Tls.NamedGroup.x25519 && !OpenSslX25519.IsAvailable))
        {
            return null;
        }

        // The first scheme of the client's with the key's algorithm and a SHA-2 hash (CertificateCredentials.CreateSigner).
        int scheme = Array.Find(signatureAlgorithms, s => (s & 0xFF) == credentials.SignatureAlgorithm && (s >> 8) is HashAlgorithm.sha256
            or HashAlgorithm.sha384 or HashAlgorithm.sha512);
        if (scheme == 0)
        {
            return null;
        }

        var signature = SignatureAndHashAlgorithm.GetInstance((short)(scheme >> 8), (short)(scheme & 0xFF));
        return PlatformSigner.Supports(signature) ? new EcdheServerPlan(credentials, suite, recordSuite, group, signature) : null;
    }

    private static int FirstCommonSuite(int[] offered, int[] certificateSuites, int[] pskSuites)
    {
        foreach (int suite in offered)
        {
            if (Array.IndexOf(certificateSuites, suite) >= 0 || Array.IndexOf(pskSuites, suite) >= 0)
            {
                return suite;
            }
        }

        return -1;
    }
}
