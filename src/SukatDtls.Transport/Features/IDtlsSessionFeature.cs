using System.Security.Cryptography.X509Certificates;

namespace SukatDtls.Transport.Features;

/// <summary>What the DTLS handshake of a connection negotiated.</summary>
public interface IDtlsSessionFeature
{
    /// <summary>The protocol version, e.g. <c>DTLS 1.2</c>.</summary>
    string ProtocolVersion { get; }

    /// <summary>The IANA number of the negotiated cipher suite (same numbering as <see cref="System.Net.Security.TlsCipherSuite"/>).</summary>
    int CipherSuite { get; }

    /// <summary>The IANA name of the negotiated cipher suite, e.g. <c>TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256</c>.</summary>
    string CipherSuiteName { get; }

    /// <summary>The certificate the peer presented, or <see langword="null"/> when it sent none.</summary>
    X509Certificate2? PeerCertificate { get; }

    /// <summary>How long the handshake took, from the verified ClientHello to the last Finished message.</summary>
    TimeSpan HandshakeDuration { get; }

    /// <summary>True when the handshake resumed an earlier session (abbreviated handshake).</summary>
    bool IsResumed { get; }

    /// <summary>The PSK identity the client used, for PSK and ECDHE-PSK suites; else null.</summary>
    string? PskIdentity { get; }

    /// <summary>
    /// The Connection ID (RFC 9146) the peer puts in the records it sends us — the one this side chose; empty when none
    /// was negotiated. On a server, the ID by which the listener finds the connection when the peer's address changes.
    /// </summary>
    ReadOnlyMemory<byte> LocalConnectionId { get; }

    /// <summary>The Connection ID (RFC 9146) we put in the records we send — the one the peer chose; empty when none.</summary>
    ReadOnlyMemory<byte> PeerConnectionId { get; }

    /// <summary>
    /// How the peer authenticated: <see cref="DtlsPeerAuthentication.PreSharedKey"/>,
    /// <see cref="DtlsPeerAuthentication.RawPublicKey"/>, <see cref="DtlsPeerAuthentication.Certificate"/>, or
    /// <see cref="DtlsPeerAuthentication.None"/> for a client that sent no certificate or key. A resumed session reports
    /// what the full handshake that made it established.
    /// </summary>
    DtlsPeerAuthentication PeerAuthentication { get; }

    /// <summary>
    /// The raw public key (RFC 7250) the peer presented, as DER-encoded SubjectPublicKeyInfo; empty when it presented
    /// none (an X.509 certificate is in <see cref="PeerCertificate"/>). Its SHA-256 is the key's usual fingerprint.
    /// </summary>
    ReadOnlyMemory<byte> PeerRawPublicKey { get; }

    /// <summary>
    /// On the client side: the session to pass to a later connect to resume it (null when the server offered no
    /// resumable session). Always null on the server side.
    /// </summary>
    Client.DtlsResumableSession? ResumableSession { get; }
}
