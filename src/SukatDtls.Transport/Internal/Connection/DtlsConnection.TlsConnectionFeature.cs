using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Http.Features;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// <see cref="ITlsConnectionFeature"/>, ASP.NET Core's view of the client certificate, as Kestrel's HTTPS gives it:
/// middleware and handlers written for TLS find the DTLS client's certificate in the same place.
/// </summary>
/// <remarks>
/// On the server it is the certificate the client presented (validated during the handshake, see
/// <see cref="DtlsTransportOptions.ClientCertificateMode"/>), the same as <see cref="Features.IDtlsSessionFeature.PeerCertificate"/>.
/// On a client connection (<see cref="Client.DtlsConnectionFactory"/>) it is our own certificate, if the server asked
/// for it and it was sent. Null without one. The handshake is complete before the application sees the connection,
/// so <see cref="ITlsConnectionFeature.GetClientCertificateAsync"/> never waits.
/// </remarks>
internal sealed partial class DtlsConnection : ITlsConnectionFeature
{
    // Set by the application (the feature's setter): it then wins over the handshake's.
    private X509Certificate2? _clientCertificateOverride;
    private bool _clientCertificateSet;

    X509Certificate2? ITlsConnectionFeature.ClientCertificate
    {
        get => _clientCertificateSet ? _clientCertificateOverride : _handshake?.ClientCertificate;
        set
        {
            _clientCertificateOverride = value;
            _clientCertificateSet = true;
        }
    }

    Task<X509Certificate2?> ITlsConnectionFeature.GetClientCertificateAsync(CancellationToken cancellationToken) =>
        Task.FromResult(((ITlsConnectionFeature)this).ClientCertificate);
}
