using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Org.BouncyCastle.Tls;
using CertificateRequest = Org.BouncyCastle.Tls.CertificateRequest;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// Client certificate authentication: the CertificateRequest, and the decision on the certificate the client sent (an
/// X.509 chain here; a raw public key goes to <see cref="AuthorizeClientRawPublicKey"/>).
/// </summary>
/// <remarks>
/// BouncyCastle only asks for a certificate in handshakes with a server certificate (never in a PSK handshake: the key
/// authenticates the client there), and it checks the client's CertificateVerify signature itself, after this
/// decision. A resumed session keeps the certificate validated when the session was made.
/// </remarks>
internal sealed partial class DtlsServerPeer
{
    /// <summary>
    /// A CertificateRequest when <see cref="DtlsTransportOptions.ClientCertificateMode"/> asks for certificates, and
    /// always when the client negotiated a raw public key (it offered one and we have a key store: it expects to be
    /// asked). A raw public key has no issuer, so that request names no certificate authorities.
    /// </summary>
    public override CertificateRequest? GetCertificateRequest()
    {
        bool rawPublicKey = m_context.SecurityParameters.ClientCertificateType == CertificateType.RawPublicKey;
        return rawPublicKey || _settings.ClientCertificates.IsRequested
            ? _settings.ClientCertificates.CreateRequest(Crypto, withAuthorities: !rawPublicKey)
            : null;
    }

    public override void NotifyClientCertificate(Certificate clientCertificate)
    {
        var policy = _settings.ClientCertificates;
        var logger = _settings.SecurityLogger;
        if (clientCertificate is { IsEmpty: false, CertificateType: CertificateType.RawPublicKey })
        {
            AuthorizeClientRawPublicKey(clientCertificate);
            return;
        }

        if (clientCertificate is null || clientCertificate.IsEmpty)
        {
            if (policy.Mode == ClientCertificateMode.RequireCertificate)
            {
                // RFC 5246 §7.4.6: a server that requires client authentication answers an empty Certificate with a
                // fatal handshake_failure (certificate_required exists in TLS 1.3 only).
                DtlsSecurityLog.ClientCertificateMissing(logger, _events.ConnectionId, _events.RemoteEndPoint, AlertDescription.GetText(AlertDescription.handshake_failure));
                throw new TlsFatalAlert(AlertDescription.handshake_failure, "the client sent no certificate, and one is required");
            }

            DtlsSecurityLog.ClientCertificateNotSent(logger, _events.ConnectionId, _events.RemoteEndPoint);
            return;
        }

        X509Certificate2 leaf;
        var intermediates = new X509Certificate2Collection();
        try
        {
            leaf = X509CertificateLoader.LoadCertificate(clientCertificate.GetCertificateAt(0).GetEncoded());
            for (int i = 1; i < clientCertificate.Length; i++)
            {
                intermediates.Add(X509CertificateLoader.LoadCertificate(clientCertificate.GetCertificateAt(i).GetEncoded()));
            }
        }
        catch (Exception ex) when (ex is CryptographicException or IOException)
        {
            DisposeAll(intermediates);
            DtlsSecurityLog.ClientCertificateUnreadable(logger, _events.ConnectionId, _events.RemoteEndPoint, AlertDescription.GetText(AlertDescription.bad_certificate), ex);
            throw new TlsFatalAlert(AlertDescription.bad_certificate, "the client certificate could not be read", ex);
        }

        try
        {
            ClientCertificateRejection? rejection;
            try
            {
                var networkTimeout = RemainingHandshakeTime;
                rejection = _events.OffCpu(() => policy.Validate(leaf, intermediates, networkTimeout));
            }
            catch (Exception ex)
            {
                // The application's ClientCertificateValidation threw: its bug, not the client's; fail closed.
                DtlsSecurityLog.ClientCertificateValidationFailed(logger, _events.ConnectionId, _events.RemoteEndPoint, leaf.Subject,
                    AlertDescription.GetText(AlertDescription.internal_error), ex);
                throw new TlsFatalAlert(AlertDescription.internal_error, "ClientCertificateValidation threw", ex);
            }

            string thumbprint = leaf.GetCertHashString(HashAlgorithmName.SHA256);
            if (rejection is not null)
            {
                DtlsSecurityLog.ClientCertificateRejected(logger, _events.ConnectionId, _events.RemoteEndPoint, leaf.Subject, thumbprint,
                    AlertDescription.GetText(rejection.Alert), rejection.Reason);
                throw new TlsFatalAlert(rejection.Alert, $"client certificate '{leaf.Subject}' rejected: {rejection.Reason}");
            }

            DtlsSecurityLog.ClientCertificateAccepted(logger, _events.ConnectionId, _events.RemoteEndPoint, leaf.Subject, thumbprint);
        }
        finally
        {
            // The connection loads its own copy of the leaf from the session's parameters once the handshake is done.
            leaf.Dispose();
            DisposeAll(intermediates);
        }
    }

    private static void DisposeAll(X509Certificate2Collection certificates)
    {
        foreach (var certificate in certificates)
        {
            certificate.Dispose();
        }
    }
}
