using Org.BouncyCastle.Tls;
using CertificateRequest = Org.BouncyCastle.Tls.CertificateRequest;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// Pre-shared keys and client certificates on the client: the suites offered, the PSK identity, the choice of a client
/// certificate for a CertificateRequest, and what a refusal by the server means in words.
/// </summary>
/// <remarks>
/// With <see cref="Client.DtlsClientOptions.PskIdentity"/> set, the PSK suites are offered first and the certificate
/// suites after them: a server that knows the key picks PSK (servers pick in the client's order, as ours does), and
/// one that does not can still authenticate itself with a certificate, which is then validated as usual. A PSK
/// handshake has no server certificate to validate: the shared key authenticates both sides.
/// </remarks>
internal sealed partial class DtlsClientPeer
{
    private int _selectedCipherSuite = -1;
    private bool _certificateRequested;
    private bool _certificateSent;

    private int[] OfferedCipherSuites => _options.PskIdentity is null
        ? CertificateCredentials.AllCipherSuites
        : [.. PskCipherSuites.All, .. CertificateCredentials.AllCipherSuites];

    public override TlsPskIdentity? GetPskIdentity() =>
        _options is { PskIdentity: { } identity, PskKey: { } key } ? new BasicTlsPskIdentity(identity, key) : null;

    public override void NotifySelectedCipherSuite(int selectedCipherSuite)
    {
        base.NotifySelectedCipherSuite(selectedCipherSuite);
        _selectedCipherSuite = selectedCipherSuite;
    }

    /// <summary>
    /// Our certificate for the server's CertificateRequest, or null (an empty Certificate message, RFC 5246 §7.4.6)
    /// when we have none or the server accepts neither its key type nor any signature algorithm it can make.
    /// </summary>
    private TlsCredentials? SelectClientCredentials(CertificateRequest request)
    {
        _certificateRequested = true;

        // The Certificate message carries the type negotiated in the hellos: a raw key cannot go where X.509 was agreed
        // (a server that ignored our client_certificate_type), nor a certificate where a raw key was.
        if (_clientCredentials is not { } credentials || credentials.IsRawPublicKey != ClientUsesRawPublicKey)
        {
            return null;
        }

        short wantedType = credentials.SignatureAlgorithm == SignatureAlgorithm.ecdsa ? ClientCertificateType.ecdsa_sign : ClientCertificateType.rsa_sign;
        bool typeAccepted = request.CertificateTypes is not { Length: > 0 } types || Array.IndexOf(types, wantedType) >= 0;
        bool signable = request.SupportedSignatureAlgorithms is not { } algorithms
            || algorithms.Any(algorithm => algorithm.Signature == credentials.SignatureAlgorithm
                && algorithm.Hash is HashAlgorithm.sha256 or HashAlgorithm.sha384 or HashAlgorithm.sha512);
        if (!typeAccepted || !signable)
        {
            return null;
        }

        _certificateSent = true;
        return credentials.CreateSigner(m_context, _crypto, request.SupportedSignatureAlgorithms);
    }

    /// <summary>
    /// What a fatal alert from the server most likely means for this handshake, to follow the alert's name in the
    /// exception message (": …"), or empty.
    /// </summary>
    public string ExplainServerAlert(short alertDescription)
    {
        bool psk = _selectedCipherSuite >= 0 && PskCipherSuites.IsPskKeyExchange(TlsUtilities.GetKeyExchangeAlgorithm(_selectedCipherSuite));
        string identity = $"'{_options.PskIdentity}'";
        return alertDescription switch
        {
            AlertDescription.unknown_psk_identity => $": the server does not know PSK identity {identity}",
            AlertDescription.decrypt_error or AlertDescription.bad_record_mac when psk =>
                $": the server's pre-shared key for identity {identity} is not ours",
            AlertDescription.handshake_failure when _certificateRequested && !_certificateSent =>
                ": the server requires a client certificate, and we sent none" + (_clientCredentials is null ? "" : " that it accepts"),
            AlertDescription.unsupported_certificate when !_certificateSent && _clientCredentials is { IsRawPublicKey: true } =>
                ": the server takes no raw public keys from clients (it wants an X.509 certificate)",
            AlertDescription.access_denied or AlertDescription.bad_certificate or AlertDescription.unsupported_certificate
                or AlertDescription.certificate_unknown
                when _certificateSent && _clientCredentials is { IsRawPublicKey: true } raw =>
                $": the server does not accept our raw public key (SHA-256 {Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(raw.SubjectPublicKeyInfo))})",
            AlertDescription.bad_certificate or AlertDescription.unsupported_certificate or AlertDescription.certificate_revoked
                or AlertDescription.certificate_expired or AlertDescription.certificate_unknown or AlertDescription.unknown_ca
                when _certificateSent => $": the server rejected our client certificate '{_options.ClientCertificate?.Subject}'",
            AlertDescription.handshake_failure when _selectedCipherSuite < 0 =>
                ": no cipher suite in common" + (_options.PskIdentity is null ? " (a PSK-only server needs PskIdentity and PskKey)" : ""),
            _ => "",
        };
    }
}
