using System.Security.Cryptography;
using Org.BouncyCastle.Tls;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// Raw public keys (RFC 7250) on the server: whether this handshake presents the certificate or a raw public key, and
/// the decision on a client's raw public key (<see cref="DtlsTransportOptions.ClientRawPublicKeyStore"/>).
/// </summary>
/// <remarks>
/// BouncyCastle 2.7.0 negotiates the certificate types but leaves every choice to us: the server's type is whatever
/// its credentials say (it does not check that the client asked for it), and client raw public keys are ignored unless
/// <see cref="GetAllowedClientCertificateTypes"/> lists them.
/// </remarks>
internal sealed partial class DtlsServerPeer
{
    /// <summary>What this handshake presents: the certificate, a raw public key, or nothing (PSK only).</summary>
    private CertificateCredentials? _presented;

    private TlsCredentialedSigner? _signer;

    public override void ProcessClientExtensions(IDictionary<int, byte[]>? clientExtensions)
    {
        base.ProcessClientExtensions(clientExtensions);
        _presented = ChoosePresented(clientExtensions);
    }

    /// <summary>
    /// RFC 7250 §4.2: the server presents a type from the client's <c>server_certificate_type</c> list. A raw public key
    /// when the client lists it first or lists no X.509, or when the client is itself in raw-public-key mode (its
    /// <c>client_certificate_type</c> offers a raw public key and no X.509: CoAP's RawPublicKey mode, RFC 7252 §9.1.3.2;
    /// GnuTLS, and with it <c>coap-client-gnutls -M</c>, lists X.509 first whatever its mode); else the certificate.
    /// </summary>
    private CertificateCredentials? ChoosePresented(IDictionary<int, byte[]>? clientExtensions)
    {
        var certificate = _credentials;
        var rawPublicKey = _settings.RawPublicKey ?? _credentials?.RawPublicKey;
        short[]? accepted = clientExtensions is null ? null : TlsExtensionsUtilities.GetServerCertificateTypeExtensionClient(clientExtensions);
        if (accepted is null || rawPublicKey is null)
        {
            // No extension: the client takes X.509 only (RFC 7250 §4.1). Without a raw public key there is no choice
            // either; BouncyCastle refuses with unsupported_certificate when the client cannot take the certificate.
            return certificate;
        }

        int rawIndex = Array.IndexOf(accepted, CertificateType.RawPublicKey);
        int x509Index = Array.IndexOf(accepted, CertificateType.X509);
        if (rawIndex < 0)
        {
            return certificate;
        }

        if (certificate is null || x509Index < 0 || rawIndex < x509Index)
        {
            return rawPublicKey;
        }

        short[]? offered = TlsExtensionsUtilities.GetClientCertificateTypeExtensionClient(clientExtensions);
        bool rawPublicKeyMode = offered is not null
            && Array.IndexOf(offered, CertificateType.RawPublicKey) >= 0 && Array.IndexOf(offered, CertificateType.X509) < 0;
        return rawPublicKeyMode ? rawPublicKey : certificate;
    }

    /// <summary>
    /// Certificate suites only for the key presented (an RSA certificate's suites cannot sign with an ECDSA raw key);
    /// PSK suites need no key.
    /// </summary>
    protected override bool IsSelectableCipherSuite(int cipherSuite, int availCurveBits, int availFiniteFieldBits, IList<short> sigAlgs) =>
        base.IsSelectableCipherSuite(cipherSuite, availCurveBits, availFiniteFieldBits, sigAlgs)
        && (PskCipherSuites.IsPskKeyExchange(TlsUtilities.GetKeyExchangeAlgorithm(cipherSuite))
            || (_presented is { } presented && Array.IndexOf(presented.CipherSuites, cipherSuite) >= 0));

    // Certificate status (OCSP stapling) is about certificates; a raw public key has none to staple.
    protected override bool AllowCertificateStatus() => _presented is not { IsRawPublicKey: true } && base.AllowCertificateStatus();

    protected override bool AllowMultiCertStatus() => _presented is not { IsRawPublicKey: true } && base.AllowMultiCertStatus();

    /// <summary>
    /// With a key store, a client may authenticate with a raw public key; X.509 stays listed, or a client that names
    /// only X.509 in its extension would be refused. Without one, a server that asks for certificates takes X.509 only,
    /// and a client that offers only a raw public key is refused with unsupported_certificate (RFC 7250 §4.2: a server
    /// that requests a certificate names the type, and fails when there is none in common); one that asks for none
    /// ignores the extension (it must then omit it from its hello).
    /// </summary>
    protected override short[]? GetAllowedClientCertificateTypes() =>
        _settings.Options.ClientRawPublicKeyStore is not null ? [CertificateType.RawPublicKey, CertificateType.X509]
        : _settings.ClientCertificates.IsRequested ? [CertificateType.X509]
        : null;

    /// <summary>The client's raw public key: its key store decides (on the handshake thread, bounded by the handshake timeout).</summary>
    private void AuthorizeClientRawPublicKey(Certificate clientCertificate)
    {
        var store = _settings.Options.ClientRawPublicKeyStore ?? throw new TlsFatalAlert(AlertDescription.internal_error);
        var logger = _settings.SecurityLogger;
        byte[] subjectPublicKeyInfo = clientCertificate.GetCertificateAt(0).GetEncoded();
        string fingerprint = Convert.ToHexStringLower(SHA256.HashData(subjectPublicKeyInfo));
        var remaining = RemainingHandshakeTime;
        var answer = _events.OffCpu(() => StoreLookup.Wait(token => store.IsAllowedAsync(subjectPublicKeyInfo, token), remaining, _events.ConnectionClosed));
        switch (answer.Kind)
        {
            case StoreAnswerKind.Abandoned:
                throw new TlsFatalAlert(AlertDescription.internal_error, "the connection ended while the raw public key was looked up");
            case StoreAnswerKind.TimedOut:
                DtlsSecurityLog.ClientRawPublicKeyStoreTimedOut(logger, _events.ConnectionId, _events.RemoteEndPoint, fingerprint, Math.Max(0, remaining.TotalMilliseconds));
                throw new TlsFatalAlert(AlertDescription.internal_error, "the raw public key store did not answer within the handshake timeout");
            case StoreAnswerKind.Failed:
                DtlsSecurityLog.ClientRawPublicKeyStoreFailed(logger, _events.ConnectionId, _events.RemoteEndPoint, fingerprint, answer.Error!);
                throw new TlsFatalAlert(AlertDescription.internal_error, "the raw public key store failed: " + answer.Error!.Message, answer.Error);
        }

        if (!answer.Value)
        {
            // access_denied (RFC 5246 §7.2.2): "a valid certificate … was received, but when access control was applied,
            // the sender decided not to proceed". The key is well-formed; it is just not one of ours. unknown_ca and
            // certificate_unknown speak of certificate chains, bad_certificate of corrupt ones.
            DtlsSecurityLog.ClientRawPublicKeyRejected(logger, _events.ConnectionId, _events.RemoteEndPoint, fingerprint,
                AlertDescription.GetText(AlertDescription.access_denied));
            throw new TlsFatalAlert(AlertDescription.access_denied, $"the client's raw public key (SHA-256 {fingerprint}) is not in the key store");
        }

        DtlsSecurityLog.ClientRawPublicKeyAccepted(logger, _events.ConnectionId, _events.RemoteEndPoint, fingerprint);
    }
}
