using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// BouncyCastle's view of our server for one handshake (a <see cref="TlsServer"/> holds per-connection state, so
/// each connection gets its own). It offers only the suites that fit the certificate's key, bounds the handshake
/// time, and reports alerts to the connection.
/// </summary>
internal sealed class DtlsServerPeer : DefaultTlsServer
{
    private readonly BcTlsCrypto _crypto;
    private readonly CertificateCredentials _credentials;
    private readonly int _handshakeTimeoutMillis;
    private readonly IDtlsPeerEvents _events;

    public DtlsServerPeer(BcTlsCrypto crypto, CertificateCredentials credentials, int handshakeTimeoutMillis, IDtlsPeerEvents events)
        : base(crypto)
    {
        _crypto = crypto;
        _credentials = credentials;
        _handshakeTimeoutMillis = handshakeTimeoutMillis;
        _events = events;
    }

    public TlsContext Context => m_context;

    /// <summary>RFC 6347 §4.1.2.7: invalid records are silently discarded, so a forged datagram cannot end a connection.</summary>
    public override bool IgnoreCorruptDtlsRecords => true;

    public override int GetHandshakeTimeoutMillis() => _handshakeTimeoutMillis;

    protected override ProtocolVersion[] GetSupportedVersions() => ProtocolVersion.DTLSv12.Only();

    protected override int[] GetSupportedCipherSuites() =>
        TlsUtilities.GetSupportedCipherSuites(Crypto, _credentials.CipherSuites);

    protected override TlsCredentialedSigner GetECDsaSignerCredentials() => _credentials.CreateSigner(m_context, _crypto);

    protected override TlsCredentialedSigner GetRsaSignerCredentials() => _credentials.CreateSigner(m_context, _crypto);

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
}
