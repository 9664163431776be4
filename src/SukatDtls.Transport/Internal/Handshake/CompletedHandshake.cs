using System.Security.Cryptography.X509Certificates;
using Org.BouncyCastle.Tls;
using SukatDtls.Transport.Client;
using SukatDtls.Transport.Features;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// What a finished handshake hands to its connection: the record layer for its records (keyed from the handshake, going
/// on from its sequence numbers, with our final flight when it ended the handshake), and what the session features
/// report (suite, resumption, identities), taken from BouncyCastle's context before it is cleared.
/// </summary>
internal sealed class CompletedHandshake
{
    private CompletedHandshake(DtlsRecordLayer records, SecurityParameters parameters, TimeSpan duration)
        : this(records, parameters.CipherSuite, duration)
    {
        IsEncryptThenMac = parameters.IsEncryptThenMac;
        IsResumed = parameters.IsResumedSession;
        PskIdentity = parameters.PskIdentity is { Length: > 0 } psk ? System.Text.Encoding.UTF8.GetString(psk) : null;
    }

    private CompletedHandshake(DtlsRecordLayer records, int cipherSuite, TimeSpan duration)
    {
        Records = records;
        CipherSuite = cipherSuite;
        CipherSuiteName = CipherSuiteNames.Get(cipherSuite);
        Duration = duration;
    }

    /// <summary>The connection's records from now on (BouncyCastle's record layer is not used after the handshake).</summary>
    public DtlsRecordLayer Records { get; }

    public int CipherSuite { get; }

    public string CipherSuiteName { get; }

    public bool IsEncryptThenMac { get; }

    public bool IsResumed { get; private init; }

    public string? PskIdentity { get; }

    public TimeSpan Duration { get; }

    /// <summary>The peer's X.509 certificate (the server's on a client, the client's on a server), when it sent one.</summary>
    public X509Certificate2? PeerCertificate { get; private init; }

    /// <summary>The peer's raw public key (RFC 7250), SubjectPublicKeyInfo DER, when it presented one.</summary>
    public byte[]? PeerRawPublicKey { get; private init; }

    /// <summary>How the peer authenticated (<see cref="IDtlsSessionFeature.PeerAuthentication"/>).</summary>
    public DtlsPeerAuthentication PeerAuthentication { get; private init; }

    /// <summary>
    /// What <c>ITlsConnectionFeature.ClientCertificate</c> reports: on a server the client's certificate, on a client
    /// our own, if the server asked for it and it was sent (X.509 only: a raw public key is no certificate).
    /// </summary>
    public X509Certificate2? ClientCertificate { get; private init; }

    /// <summary>On a client: the session to offer for resumption next time.</summary>
    public DtlsResumableSession? ResumableSession { get; private init; }

    /// <summary>
    /// A server's certificate handshake of our own (<see cref="Ecdhe.EcdheServerHandshake"/>), full or abbreviated: an
    /// AEAD suite, no client authentication.
    /// </summary>
    public static CompletedHandshake CreateOwn(DtlsRecordLayer records, int cipherSuite, bool resumed, TimeSpan duration) =>
        new(records, cipherSuite, duration) { IsOwnHandshake = true, IsResumed = resumed };

    /// <summary>The transport's own handshake made it (<see cref="Ecdhe.EcdheServerHandshake"/>), not BouncyCastle's.</summary>
    public bool IsOwnHandshake { get; private init; }

    /// <summary>Reads what the connection keeps from BouncyCastle's context (on the handshake thread, right after the handshake).</summary>
    /// <param name="context">BouncyCastle's context of the finished handshake.</param>
    /// <param name="keys">The keys captured when the handshake completed (disposed here: the key block is zeroed).</param>
    /// <param name="transport">The handshake's transport: the sequence numbers it used and our final flight.</param>
    /// <param name="duration">How long the handshake took.</param>
    /// <param name="resumableSession">On a client: the session to offer next time.</param>
    public static CompletedHandshake Create(TlsContext context, SessionKeys keys, HandshakeTransport transport, TimeSpan duration,
        DtlsResumableSession? resumableSession = null)
    {
        DtlsRecordLayer records;
        using (keys)
        {
            records = new DtlsRecordLayer(keys.CreateReadCipher(), keys.CreateWriteCipher(), transport.NextEpoch1Sequence, transport.TakeFinalFlight(),
                keys.PlaintextLimit);
        }

        var parameters = context.SecurityParameters;

        // The Certificate object knows its type (a resumed session keeps the object, while the negotiated
        // certificate-type parameters are set in full handshakes only).
        var peerChain = parameters.PeerCertificate is { IsEmpty: false } chain ? chain : null;
        bool peerRawPublicKey = peerChain?.CertificateType == CertificateType.RawPublicKey;
        var peerCertificate = peerChain is not null && !peerRawPublicKey
            ? X509CertificateLoader.LoadCertificate(peerChain.GetCertificateAt(0).GetEncoded())
            : null;
        var clientCertificate = context.IsServer
            ? peerCertificate
            : parameters.LocalCertificate is { IsEmpty: false, CertificateType: CertificateType.X509 } sent
                ? X509CertificateLoader.LoadCertificate(sent.GetCertificateAt(0).GetEncoded())
                : null;
        var authentication = PskCipherSuites.IsPskKeyExchange(parameters.KeyExchangeAlgorithm) ? DtlsPeerAuthentication.PreSharedKey
            : peerRawPublicKey ? DtlsPeerAuthentication.RawPublicKey
            : peerCertificate is not null ? DtlsPeerAuthentication.Certificate
            : DtlsPeerAuthentication.None;
        return new CompletedHandshake(records, parameters, duration)
        {
            PeerCertificate = peerCertificate,
            PeerRawPublicKey = peerRawPublicKey ? peerChain!.GetCertificateAt(0).GetEncoded() : null,
            PeerAuthentication = authentication,
            ClientCertificate = clientCertificate,
            ResumableSession = resumableSession,
        };
    }
}
