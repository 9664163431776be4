using System.Security.Cryptography.X509Certificates;
using System.Text;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;
using SukatDtls.Transport.Client;
using CertificateRequest = Org.BouncyCastle.Tls.CertificateRequest;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>BouncyCastle's view of our client for one handshake: suites, SNI, server certificate validation, client certificate.</summary>
/// <remarks>Partial: pre-shared keys, raw public keys and resumption live in files of their own.</remarks>
internal sealed partial class DtlsClientPeer : DefaultTlsClient
{
    private readonly BcTlsCrypto _crypto;
    private readonly DtlsClientOptions _options;
    private readonly string _serverName;
    private readonly bool _sendServerName;
    private readonly CertificateCredentials? _clientCredentials;
    private readonly IDtlsPeerEvents _events;
    private readonly DtlsResumableSession? _sessionToResume;
    private readonly TimeSpan _handshakeTimeout;

    // handshakeTimeout: how long this handshake may take; the HandshakeTimeout option, or what is left of it when the
    // connect started other addresses first.
    public DtlsClientPeer(BcTlsCrypto crypto, DtlsClientOptions options, string serverName, bool sendServerName,
        CertificateCredentials? clientCredentials, IDtlsPeerEvents events, DtlsResumableSession? sessionToResume, TimeSpan handshakeTimeout)
        : base(crypto)
    {
        _handshakeTimeout = handshakeTimeout;
        _sessionToResume = sessionToResume;
        _crypto = crypto;
        _options = options;
        _serverName = serverName;
        _sendServerName = sendServerName;
        _clientCredentials = clientCredentials;
        _events = events;
    }

    public TlsContext Context => m_context;

    /// <summary>The record keys, captured when the handshake completed (the master secret is gone after it).</summary>
    public SessionKeys? Keys { get; private set; }

    public override void NotifyHandshakeComplete()
    {
        base.NotifyHandshakeComplete();
        Keys = SessionKeys.Capture(m_context);
    }

    /// <summary>The server name this peer validates and resumes sessions for.</summary>
    public string ServerName => _serverName;

    /// <summary>Why the server certificate was rejected, when it was.</summary>
    public string? CertificateRejection { get; private set; }

    public override bool IgnoreCorruptDtlsRecords => true;

    // At least 1 ms: BouncyCastle reads 0 as "no timeout".
    public override int GetHandshakeTimeoutMillis() => (int)Math.Max(1, Math.Ceiling(_handshakeTimeout.TotalMilliseconds));

    public override int GetHandshakeResendTimeMillis() => (int)_options.HandshakeRetransmissionTimeout.TotalMilliseconds;

    protected override ProtocolVersion[] GetSupportedVersions() => ProtocolVersion.DTLSv12.Only();

    protected override int[] GetSupportedCipherSuites() =>
        TlsUtilities.GetSupportedCipherSuites(Crypto, OfferedCipherSuites);

    protected override IList<ServerName>? GetSniServerNames() =>
        _sendServerName ? [new ServerName(NameType.host_name, Encoding.ASCII.GetBytes(_serverName))] : null;

    public override TlsAuthentication GetAuthentication() => new Authentication(this);

    /// <summary>
    /// RFC 9146: offer the extension with an empty ID of our own (our socket is connected: we need none), so that the
    /// server gives us one and keeps the session when our address changes.
    /// </summary>
    protected override byte[]? GetNewConnectionID() => _options.RequestConnectionId ? [] : null;

    public override void NotifyAlertReceived(short alertLevel, short alertDescription)
    {
        base.NotifyAlertReceived(alertLevel, alertDescription);
        _events.OnAlertReceived(alertLevel, alertDescription);
    }

    public override void NotifyAlertRaised(short alertLevel, short alertDescription, string message, Exception cause)
    {
        base.NotifyAlertRaised(alertLevel, alertDescription, message, cause);
        _events.OnAlertRaised(alertLevel, alertDescription, message, cause);
    }

    private sealed class Authentication(DtlsClientPeer peer) : TlsAuthentication
    {
        public void NotifyServerCertificate(TlsServerCertificate serverCertificate)
        {
            var chain = serverCertificate.Certificate;
            if (chain is null || chain.IsEmpty)
            {
                peer.CertificateRejection = "the server sent no certificate";
                throw new TlsFatalAlert(AlertDescription.bad_certificate, peer.CertificateRejection);
            }

            if (chain.CertificateType == CertificateType.RawPublicKey)
            {
                // Only offered with a pin (DtlsClientPeer.RawPublicKey.cs); a raw public key has nothing else to check.
                peer.CertificateRejection = ServerCertificateValidator.ValidateRawPublicKey(peer._options, chain.GetCertificateAt(0).GetEncoded());
                if (peer.CertificateRejection is not null)
                {
                    throw new TlsFatalAlert(AlertDescription.bad_certificate, peer.CertificateRejection);
                }

                return;
            }

            using var leaf = X509CertificateLoader.LoadCertificate(chain.GetCertificateAt(0).GetEncoded());
            var intermediates = new X509Certificate2Collection();
            for (int i = 1; i < chain.Length; i++)
            {
                intermediates.Add(X509CertificateLoader.LoadCertificate(chain.GetCertificateAt(i).GetEncoded()));
            }

            try
            {
                var rejection = peer._events.OffCpu(() => ServerCertificateValidator.Validate(peer._options, peer._serverName, leaf, intermediates));
                if (rejection is not null)
                {
                    peer.CertificateRejection = rejection;
                    throw new TlsFatalAlert(AlertDescription.bad_certificate, rejection);
                }
            }
            finally
            {
                foreach (var certificate in intermediates)
                {
                    certificate.Dispose();
                }
            }
        }

        public TlsCredentials? GetClientCredentials(CertificateRequest certificateRequest) => peer.SelectClientCredentials(certificateRequest);
    }
}
