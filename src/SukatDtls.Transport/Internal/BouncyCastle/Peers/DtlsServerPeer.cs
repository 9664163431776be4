using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// BouncyCastle's view of our server for one handshake (a <see cref="TlsServer"/> holds per-connection state, so
/// each connection gets its own). It offers only the suites that fit the certificate's key (plus the PSK suites when
/// there is a key store), bounds the handshake time, and reports alerts to the connection.
/// </summary>
/// <remarks>
/// Partial: each concern of the handshake (certificates, client authentication, raw public keys, pre-shared keys,
/// resumption) lives in its own file.
/// </remarks>
internal sealed partial class DtlsServerPeer : DefaultTlsServer
{
    private readonly ServerPeerSettings _settings;
    private readonly IDtlsPeerEvents _events;
    private readonly long _peerCreatedTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();

    /// <summary>
    /// The server certificate of this handshake, taken once: a certificate reloaded meanwhile is for later handshakes,
    /// so the suites offered and the signature made always fit one key.
    /// </summary>
    private readonly CertificateCredentials? _credentials;

    /// <param name="settings">The listener's settings.</param>
    /// <param name="events">The connection.</param>
    /// <param name="credentials">The certificate taken when the handshake started (<see cref="ServerPeerSettings.Credentials"/>).</param>
    public DtlsServerPeer(ServerPeerSettings settings, IDtlsPeerEvents events, CertificateCredentials? credentials)
        : base(settings.Crypto)
    {
        _settings = settings;
        _events = events;
        _credentials = credentials;
        _presented = _credentials;
    }

    public TlsContext Context => m_context;

    /// <summary>The record keys, captured when the handshake completed (the master secret is gone after it).</summary>
    public SessionKeys? Keys { get; private set; }

    public override void NotifyHandshakeComplete()
    {
        base.NotifyHandshakeComplete();
        Keys = SessionKeys.Capture(m_context);
    }

    /// <summary>RFC 6347 §4.1.2.7: invalid records are silently discarded, so a forged datagram cannot end a connection.</summary>
    public override bool IgnoreCorruptDtlsRecords => true;

    public override int GetHandshakeTimeoutMillis() => _settings.HandshakeTimeoutMillis;

    public override int GetHandshakeResendTimeMillis() => (int)_settings.Options.HandshakeRetransmissionTimeout.TotalMilliseconds;

    protected override ProtocolVersion[] GetSupportedVersions() => ProtocolVersion.DTLSv12.Only();

    /// <summary>
    /// The certificate's suites, those of a configured raw public key when its key type differs, and the PSK suites;
    /// which of the first two a handshake may select depends on what it presents (<see cref="IsSelectableCipherSuite"/>).
    /// </summary>
    protected override int[] GetSupportedCipherSuites() =>
        TlsUtilities.GetSupportedCipherSuites(Crypto,
            [.. (_credentials?.CipherSuites ?? []).Union(_settings.RawPublicKey?.CipherSuites ?? []), .. PskCipherSuitesOffered]);

    /// <summary>RFC 9146: asked only when the client offered the extension; null when the listener gives none.</summary>
    protected override byte[]? GetNewConnectionID() => _events.ReserveConnectionId();

    /// <summary>
    /// RFC 9146 §3: a resumed session negotiates its Connection ID afresh. BouncyCastle 2.7 reuses the stored session's
    /// server extensions for an abbreviated handshake — the old ID, which the listener may no longer (or another
    /// connection may still) have, or none — so the ID is replaced here by a new one when the client offers the
    /// extension this time, and left out when it does not.
    /// </summary>
    public override void GetServerExtensionsForConnection(IDictionary<int, byte[]> serverExtensions)
    {
        base.GetServerExtensionsForConnection(serverExtensions);
        if (!m_context.SecurityParameters.IsResumedSession)
        {
            return;
        }

        serverExtensions.Remove(ExtensionType.connection_id);
        if (m_clientExtensions is not null && m_clientExtensions.ContainsKey(ExtensionType.connection_id)
            && GetNewConnectionID() is { } connectionId)
        {
            TlsExtensionsUtilities.AddConnectionIDExtension(serverExtensions, connectionId);
        }
    }

    protected override TlsCredentialedSigner GetECDsaSignerCredentials() => Signer();

    protected override TlsCredentialedSigner GetRsaSignerCredentials() => Signer();

    /// <summary>
    /// The signer of what this handshake presents, made once: BouncyCastle asks for the credentials twice (the
    /// certificate type extension, then the Certificate message), and both must be the same.
    /// </summary>
    private TlsCredentialedSigner Signer() =>
        _signer ??= _presented?.CreateSigner(m_context, _settings.Crypto) ?? throw new TlsFatalAlert(AlertDescription.internal_error);

    /// <summary>What is left of the handshake timeout: the longest an application store may take to answer.</summary>
    private TimeSpan RemainingHandshakeTime =>
        _settings.Options.HandshakeTimeout - System.Diagnostics.Stopwatch.GetElapsedTime(_peerCreatedTimestamp);

    public override void NotifyAlertReceived(short alertLevel, short alertDescription)
    {
        base.NotifyAlertReceived(alertLevel, alertDescription);
        ForgetSessionAfterFatalAlert(alertLevel, alertDescription);
        _events.OnAlertReceived(alertLevel, alertDescription);
    }

    public override void NotifyAlertRaised(short alertLevel, short alertDescription, string message, Exception cause)
    {
        base.NotifyAlertRaised(alertLevel, alertDescription, message, cause);
        OnPskAlertRaised(alertLevel, alertDescription);
        ForgetSessionAfterFatalAlert(alertLevel, alertDescription);
        _events.OnAlertRaised(alertLevel, alertDescription, message, cause);
    }
}
