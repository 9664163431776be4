using Org.BouncyCastle.Tls;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// Raw public keys (RFC 7250) on the client: which certificate types it offers for the server and for itself.
/// </summary>
/// <remarks>
/// A server raw public key is asked for (first, X.509 after it) only with <see cref="Client.DtlsClientOptions.PinnedServerPublicKeySha256"/>:
/// without a pin, a raw key could not be trusted. Our own raw public key is offered only with
/// <see cref="Client.DtlsClientOptions.ClientRawPublicKey"/>; BouncyCastle omits an extension that would list X.509
/// alone (RFC 7250 §4.1).
/// </remarks>
internal sealed partial class DtlsClientPeer
{
    protected override short[]? GetAllowedServerCertificateTypes() =>
        _options.PinnedServerPublicKeySha256 is null ? null : [CertificateType.RawPublicKey, CertificateType.X509];

    protected override short[]? GetAllowedClientCertificateTypes() =>
        _clientCredentials is { IsRawPublicKey: true } ? [CertificateType.RawPublicKey] : null;

    /// <summary>Whether the server and we agreed that our credential is a raw public key.</summary>
    private bool ClientUsesRawPublicKey => m_context.SecurityParameters.ClientCertificateType == CertificateType.RawPublicKey;
}
