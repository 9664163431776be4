using System.Security.Cryptography;
using SukatDtls.Transport.Features;

namespace SukatDtls.Samples.CoapServer;

/// <summary>Who is at the other end of a connection, as the DTLS handshake established it (RFC 7252 §9's security modes).</summary>
/// <param name="Description">For people: "pre-shared key 'device-1'", "raw public key SHA-256 …", "certificate CN=…", "anonymous".</param>
internal sealed record CoapPeer(string Description)
{
    public static CoapPeer From(IDtlsSessionFeature? session) => new(session?.PeerAuthentication switch
    {
        DtlsPeerAuthentication.PreSharedKey => $"pre-shared key '{session.PskIdentity}'",
        DtlsPeerAuthentication.RawPublicKey => $"raw public key SHA-256 {Convert.ToHexStringLower(SHA256.HashData(session.PeerRawPublicKey.Span))}",
        DtlsPeerAuthentication.Certificate => $"certificate {session.PeerCertificate?.Subject}",
        _ => "anonymous",
    });
}
