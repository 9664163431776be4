using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto;
using CertificateRequest = Org.BouncyCastle.Tls.CertificateRequest;
using HashAlgorithm = Org.BouncyCastle.Tls.HashAlgorithm;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// The server's client certificate policy, derived once per listener from <see cref="DtlsTransportOptions"/>: whether
/// to ask, what to put in the CertificateRequest, and the validation of the chain a client sent. BouncyCastle checks
/// only the CertificateVerify signature (that the client holds the key); everything else is decided here: an X.509
/// chain to <see cref="DtlsTransportOptions.ClientCertificateAuthorities"/> (custom root trust) or the system trust,
/// the clientAuth purpose, revocation as configured, then the application's
/// <see cref="DtlsTransportOptions.ClientCertificateValidation"/>.
/// </summary>
internal sealed class ClientCertificateValidator
{
    // The key types our chain validation and BouncyCastle's CertificateVerify check both handle. In TLS 1.2
    // ecdsa_sign also covers EdDSA certificates (RFC 8422 §5.5), whose signatures are not listed below.
    private static readonly short[] s_certificateTypes = [ClientCertificateType.ecdsa_sign, ClientCertificateType.rsa_sign];

    // SHA-2 only: no SHA-1 or SHA-224 signatures, as OpenSSL's security level 1 and current browsers.
    private static readonly SignatureAndHashAlgorithm[] s_signatureAlgorithms =
    [
        SignatureAndHashAlgorithm.GetInstance(HashAlgorithm.sha256, SignatureAlgorithm.ecdsa),
        SignatureAndHashAlgorithm.GetInstance(HashAlgorithm.sha384, SignatureAlgorithm.ecdsa),
        SignatureAndHashAlgorithm.GetInstance(HashAlgorithm.sha512, SignatureAlgorithm.ecdsa),
        SignatureAndHashAlgorithm.rsa_pss_rsae_sha256,
        SignatureAndHashAlgorithm.rsa_pss_rsae_sha384,
        SignatureAndHashAlgorithm.rsa_pss_rsae_sha512,
        SignatureAndHashAlgorithm.GetInstance(HashAlgorithm.sha256, SignatureAlgorithm.rsa),
        SignatureAndHashAlgorithm.GetInstance(HashAlgorithm.sha384, SignatureAlgorithm.rsa),
        SignatureAndHashAlgorithm.GetInstance(HashAlgorithm.sha512, SignatureAlgorithm.rsa),
    ];

    private readonly DtlsTransportOptions _options;
    private readonly List<X509Name>? _authorityNames;

    public ClientCertificateValidator(DtlsTransportOptions options)
    {
        _options = options;
        Mode = options.ClientCertificateMode;
        if (options.ClientCertificateAuthorities is { Count: > 0 } authorities)
        {
            // RFC 5246 §7.4.4 certificate_authorities: the distinguished names of acceptable CAs, so a client with
            // several certificates can pick one that chains to them.
            _authorityNames = [.. authorities.Select(authority => X509Name.GetInstance(authority.SubjectName.RawData))];
        }
    }

    public ClientCertificateMode Mode { get; }

    /// <summary>Whether clients are asked for a certificate at all.</summary>
    public bool IsRequested => Mode is ClientCertificateMode.AllowCertificate or ClientCertificateMode.RequireCertificate;

    /// <summary>The CertificateRequest for one handshake (DTLS 1.2 requires the signature algorithms).</summary>
    /// <param name="crypto">BouncyCastle's crypto, for the signature algorithms it can verify.</param>
    /// <param name="withAuthorities">Whether to name the trusted CAs (not for a raw public key, which has no issuer).</param>
    public CertificateRequest CreateRequest(TlsCrypto crypto, bool withAuthorities = true)
    {
        var algorithms = s_signatureAlgorithms.Where(crypto.HasSignatureAndHashAlgorithm).ToList();
        return new CertificateRequest(s_certificateTypes, algorithms, withAuthorities ? _authorityNames : null);
    }

    /// <summary>Validates a client's certificate chain.</summary>
    /// <param name="leaf">The client's certificate.</param>
    /// <param name="intermediates">The other certificates the client sent (used to build the chain, never trusted).</param>
    /// <param name="networkTimeout">
    /// The longest the chain build may spend fetching CRLs, OCSP answers or missing issuers (<c>Online</c> revocation):
    /// what is left of the handshake timeout. .NET's own default (15 s on Linux) would hold the handshake thread past it.
    /// </param>
    /// <returns>Null when the certificate is acceptable, else the alert to send and why.</returns>
    /// <exception cref="Exception">Whatever <see cref="DtlsTransportOptions.ClientCertificateValidation"/> throws (nothing else does).</exception>
    public ClientCertificateRejection? Validate(X509Certificate2 leaf, X509Certificate2Collection intermediates, TimeSpan networkTimeout)
    {
        using var chain = new X509Chain();
        try
        {
            CertificateChainPolicy.Configure(chain.ChainPolicy, CertificateChainPolicy.ClientAuthentication,
                _options.ClientCertificateRevocationMode, intermediates, _options.ClientCertificateAuthorities);

            // Zero would mean .NET's default; a handshake out of time gets the least there is.
            chain.ChainPolicy.UrlRetrievalTimeout = networkTimeout > TimeSpan.Zero ? networkTimeout : TimeSpan.FromMilliseconds(1);

            bool built;
            try
            {
                built = chain.Build(leaf);
            }
            catch (CryptographicException ex)
            {
                // A certificate the platform cannot even parse for chain building; the application is not asked.
                return new ClientCertificateRejection(AlertDescription.bad_certificate, "the chain could not be built: " + ex.Message);
            }

            var problems = built ? null : Describe(chain);
            if (_options.ClientCertificateValidation is { } callback)
            {
                if (callback(leaf, chain, built ? SslPolicyErrors.None : SslPolicyErrors.RemoteCertificateChainErrors))
                {
                    return null;
                }

                return built
                    ? new ClientCertificateRejection(AlertDescription.certificate_unknown, "ClientCertificateValidation rejected it (the chain itself is valid)")
                    : new ClientCertificateRejection(AlertFor(chain), $"{problems}; ClientCertificateValidation did not accept it either");
            }

            return built ? null : new ClientCertificateRejection(AlertFor(chain), problems!);
        }
        finally
        {
            // The chain's elements are certificates of their own; the caller owns the leaf and the intermediates.
            foreach (var element in chain.ChainElements)
            {
                element.Certificate.Dispose();
            }
        }
    }

    private static string Describe(X509Chain chain)
    {
        var problems = chain.ChainStatus
            .Where(status => status.Status != X509ChainStatusFlags.NoError)
            .Select(status => $"{status.Status} ({status.StatusInformation.Trim()})")
            .Distinct()
            .ToArray();
        return problems.Length == 0 ? "the chain did not build" : "the chain is not valid: " + string.Join("; ", problems);
    }

    /// <summary>
    /// The RFC 5246 §7.2.2 alert for the most telling problem of the chain, as OpenSSL chooses it
    /// (<c>ssl_verify_alarm_type</c>): revoked, expired, wrong purpose, bad signature, unknown CA, anything else.
    /// </summary>
    private static short AlertFor(X509Chain chain)
    {
        var flags = X509ChainStatusFlags.NoError;
        foreach (var status in chain.ChainStatus)
        {
            flags |= status.Status;
        }

        if ((flags & X509ChainStatusFlags.Revoked) != 0)
        {
            return AlertDescription.certificate_revoked;
        }

        if ((flags & (X509ChainStatusFlags.NotTimeValid | X509ChainStatusFlags.NotTimeNested)) != 0)
        {
            return AlertDescription.certificate_expired;
        }

        if ((flags & (X509ChainStatusFlags.NotValidForUsage | X509ChainStatusFlags.HasNotSupportedCriticalExtension)) != 0)
        {
            return AlertDescription.unsupported_certificate;
        }

        if ((flags & (X509ChainStatusFlags.NotSignatureValid | X509ChainStatusFlags.InvalidBasicConstraints
            | X509ChainStatusFlags.InvalidExtension | X509ChainStatusFlags.InvalidNameConstraints | X509ChainStatusFlags.Cyclic)) != 0)
        {
            return AlertDescription.bad_certificate;
        }

        if ((flags & (X509ChainStatusFlags.UntrustedRoot | X509ChainStatusFlags.PartialChain)) != 0)
        {
            return AlertDescription.unknown_ca;
        }

        return AlertDescription.certificate_unknown;
    }
}
