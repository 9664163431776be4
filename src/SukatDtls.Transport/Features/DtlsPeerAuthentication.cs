namespace SukatDtls.Transport.Features;

/// <summary>How the peer of a DTLS connection proved who it is (<see cref="IDtlsSessionFeature.PeerAuthentication"/>).</summary>
/// <remarks>
/// These are CoAP's security modes (RFC 7252 §9): a pre-shared key, a raw public key (RFC 7250) or an X.509 certificate.
/// On a server it describes the client; on a client, the server.
/// </remarks>
public enum DtlsPeerAuthentication
{
    /// <summary>The peer did not authenticate: a client that sent no certificate or key (a server always authenticates).</summary>
    None = 0,

    /// <summary>An X.509 certificate, validated (<see cref="IDtlsSessionFeature.PeerCertificate"/>).</summary>
    Certificate = 1,

    /// <summary>A raw public key (RFC 7250), accepted by its key store or pin (<see cref="IDtlsSessionFeature.PeerRawPublicKey"/>).</summary>
    RawPublicKey = 2,

    /// <summary>A pre-shared key: a PSK or ECDHE-PSK suite (<see cref="IDtlsSessionFeature.PskIdentity"/>).</summary>
    PreSharedKey = 3,
}
