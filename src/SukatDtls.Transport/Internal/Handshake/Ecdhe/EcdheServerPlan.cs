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
    private EcdheServerPlan(CertificateCredentials? credentials, int cipherSuite, RecordSuite recordSuite, int namedGroup, SignatureAndHashAlgorithm? signature,
        TlsSession? resumedSession = null)
    {
        Credentials = credentials;
        CipherSuite = cipherSuite;
        RecordSuite = recordSuite;
        NamedGroup = namedGroup;
        Signature = signature;
        ResumedSession = resumedSession;

        // Of the suites offered, those named ..._SHA384 (AES-256-GCM) have the SHA-384 PRF; all others SHA-256's.
        UsesSha384 = CipherSuiteNames.Get(cipherSuite).EndsWith("_SHA384", StringComparison.Ordinal);
    }

    /// <summary>The certificate presented in a full handshake; null when resuming (no certificate is sent).</summary>
    public CertificateCredentials? Credentials { get; }

    /// <summary>The session an abbreviated handshake resumes (RFC 5246 §7.3); null for a full handshake.</summary>
    public TlsSession? ResumedSession { get; }

    public int CipherSuite { get; }

    public RecordSuite RecordSuite { get; }

    /// <summary>The ECDHE group: <see cref="Org.BouncyCastle.Tls.NamedGroup.x25519"/> or <see cref="Org.BouncyCastle.Tls.NamedGroup.secp256r1"/>.</summary>
    public int NamedGroup { get; }

    /// <summary>The ServerKeyExchange's signature scheme in a full handshake; null when resuming.</summary>
    public SignatureAndHashAlgorithm? Signature { get; }

    /// <summary>Whether the suite's PRF (and transcript hash) is SHA-384 rather than SHA-256.</summary>
    public bool UsesSha384 { get; }

    /// <summary>
    /// Whether the server's own handshake may take <paramref name="clientHello"/> at all: a server with an X.509
    /// certificate and no client authentication, a client with the extended master secret and nothing only
    /// BouncyCastle answers.
    /// </summary>
    public static bool IsEligible(ServerPeerSettings settings, CertificateCredentials? credentials, ClientHelloMessage clientHello) =>
        !clientHello.NeedsBouncyCastle && clientHello.OffersExtendedMasterSecret
        && credentials is { IsRawPublicKey: false } && settings.RawPublicKey is null
        && settings.Options.ClientCertificateMode == Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.NoCertificate;

    /// <summary>
    /// The plan of an abbreviated handshake resuming <paramref name="session"/>, or null when BouncyCastle's handshake
    /// takes it. As BouncyCastle's: the session must be resumable, made with the extended master secret, and its suite
    /// offered again (RFC 5246 §7.4.1.3); ours resumes only the sessions its own full handshake makes (an ECDHE suite
    /// with a certificate, no client identity).
    /// </summary>
    public static EcdheServerPlan? ForResumption(ServerPeerSettings settings, ClientHelloMessage clientHello, TlsSession session)
    {
        if (!session.IsResumable || session.ExportSessionParameters() is not { } parameters
            || !parameters.IsExtendedMasterSecret || !ProtocolVersion.DTLSv12.Equals(parameters.NegotiatedVersion)
            || parameters.PeerCertificate is { IsEmpty: false } || parameters.PskIdentity is not null
            || Array.IndexOf(clientHello.CipherSuites, parameters.CipherSuite) < 0
            || Array.IndexOf(CertificateCredentials.AllCipherSuites, parameters.CipherSuite) < 0
            || RecordSuite.Of(parameters.CipherSuite) is not { Aead: not null } recordSuite
            || SessionStateFormat.CopyMasterSecret(parameters, settings.Crypto) is not { } masterSecret)
        {
            return null;
        }

        return masterSecret.Length == 48
            ? new EcdheServerPlan(null, parameters.CipherSuite, recordSuite, namedGroup: 0, signature: null, session) { ResumedMasterSecret = masterSecret }
            : null;
    }

    /// <summary>The resumed session's master secret (48 bytes; the handshake zeroes it); null for a full handshake.</summary>
    public byte[]? ResumedMasterSecret { get; private init; }

    /// <summary>The plan of a full handshake for <paramref name="clientHello"/>, or null when BouncyCastle's handshake takes it.</summary>
    /// <param name="settings">The listener's settings.</param>
    /// <param name="credentials">The certificate taken when the handshake started (one <see cref="IsEligible"/> accepted).</param>
    /// <param name="clientHello">The verified ClientHello.</param>
    public static EcdheServerPlan? For(ServerPeerSettings settings, CertificateCredentials credentials, ClientHelloMessage clientHello)
    {
        var options = settings.Options;
        if (clientHello.SupportedGroups is not { } groups || clientHello.SignatureAlgorithms is not { } signatureAlgorithms)
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
