using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;
using HashAlgorithm = Org.BouncyCastle.Tls.HashAlgorithm;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// An <see cref="X509Certificate2"/> with its private key and chain, or a key pair presented as a raw public key
/// (RFC 7250), converted once into BouncyCastle's types, plus the cipher suites that fit the key. Shared by every
/// handshake of a listener (or of a client factory).
/// </summary>
internal sealed class CertificateCredentials
{
    // ECDHE only (forward secrecy), AEAD only: what OpenSSL, pion/dtls and Scandium negotiate by default. The two CCM
    // suites (RFC 7251) come last: TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 is CoAP's mandatory suite for certificates and
    // raw public keys (RFC 7252 §9.1.3.2-3) and all that many constrained devices (tinydtls, LwM2M clients) implement,
    // so they must be there, but a peer that can do GCM or ChaCha20 gets those (a full 16-byte tag; CCM_8's 8 bytes
    // suit radio links, not the internet). BouncyCastle's default lists have neither CCM suite.
    private static readonly int[] s_ecdsaSuites =
    [
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM,
        CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8,
    ];

    private static readonly int[] s_rsaSuites =
    [
        CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        CipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        CipherSuite.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ];

    // The key also lives as .NET ECDsa or RSA objects: signing through the platform's crypto library is far cheaper
    // than BouncyCastle's managed arithmetic (PlatformSigner).
    private readonly PlatformKeyPool _platformKeys;

    private CertificateCredentials(Certificate chain, AsymmetricKeyParameter privateKey, short signatureAlgorithm, int[] cipherSuites,
        PlatformKeyPool platformKeys, byte[] subjectPublicKeyInfo, CertificateCredentials? rawPublicKey)
    {
        Chain = chain;
        PrivateKey = privateKey;
        SignatureAlgorithm = signatureAlgorithm;
        CipherSuites = cipherSuites;
        _platformKeys = platformKeys;
        SubjectPublicKeyInfo = subjectPublicKeyInfo;
        RawPublicKey = rawPublicKey ?? this;
    }

    /// <summary>
    /// What the Certificate message carries: an X.509 chain, or the key alone (RFC 7250:
    /// <see cref="Org.BouncyCastle.Tls.CertificateType.RawPublicKey"/>, one SubjectPublicKeyInfo).
    /// </summary>
    public Certificate Chain { get; }

    public bool IsRawPublicKey => Chain.CertificateType == CertificateType.RawPublicKey;

    /// <summary>The public key as DER SubjectPublicKeyInfo (of the leaf certificate, or the raw key itself).</summary>
    public byte[] SubjectPublicKeyInfo { get; }

    /// <summary>
    /// The same key presented as a raw public key (RFC 7250), for clients that ask for one; this object itself when it
    /// already is one. Made once with the certificate, so a handshake allocates nothing for it.
    /// </summary>
    public CertificateCredentials RawPublicKey { get; }

    public AsymmetricKeyParameter PrivateKey { get; }

    /// <summary>BouncyCastle's <see cref="Org.BouncyCastle.Tls.SignatureAlgorithm"/> of the key.</summary>
    public short SignatureAlgorithm { get; }

    public int[] CipherSuites { get; }

    /// <summary>Every suite a client offers: ECDHE-ECDSA (GCM, ChaCha20, then CCM) and ECDHE-RSA, AEAD only.</summary>
    public static int[] AllCipherSuites { get; } = [.. s_ecdsaSuites, .. s_rsaSuites];

    public static CertificateCredentials Create(TlsCrypto crypto, X509Certificate2 certificate, X509Certificate2Collection? chain)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        byte[] pkcs8;
        short signatureAlgorithm;
        int[] suites;
        if (certificate.GetECDsaPrivateKey() is { } ecdsa)
        {
            using (ecdsa)
            {
                pkcs8 = ExportPkcs8(ecdsa, certificate);
            }

            signatureAlgorithm = Org.BouncyCastle.Tls.SignatureAlgorithm.ecdsa;
            suites = s_ecdsaSuites;
        }
        else if (certificate.GetRSAPrivateKey() is { } rsa)
        {
            using (rsa)
            {
                pkcs8 = ExportPkcs8(rsa, certificate);
            }

            signatureAlgorithm = Org.BouncyCastle.Tls.SignatureAlgorithm.rsa;
            suites = s_rsaSuites;
        }
        else
        {
            throw new InvalidOperationException(
                $"The certificate '{certificate.Subject}' has no ECDSA or RSA private key; DTLS needs one of them.");
        }

        var entries = new List<TlsCertificate> { CreateEntry(crypto, certificate.RawData) };
        if (chain is not null)
        {
            foreach (var extra in chain)
            {
                bool isLeaf = extra.RawDataMemory.Span.SequenceEqual(certificate.RawDataMemory.Span);
                bool isSelfSignedRoot = extra.SubjectName.RawData.AsSpan().SequenceEqual(extra.IssuerName.RawData);
                if (!isLeaf && !isSelfSignedRoot)
                {
                    entries.Add(CreateEntry(crypto, extra.RawData));
                }
            }
        }

        var privateKey = PrivateKeyFactory.CreateKey(pkcs8);
        var platformKeys = new PlatformKeyPool(pkcs8, ecdsa: signatureAlgorithm == Org.BouncyCastle.Tls.SignatureAlgorithm.ecdsa);
        byte[] spki = certificate.PublicKey.ExportSubjectPublicKeyInfo();
        var rawPublicKey = new CertificateCredentials(RawPublicKeyCertificate(crypto, spki), privateKey, signatureAlgorithm, suites,
            platformKeys, spki, rawPublicKey: null);

        return new CertificateCredentials(new Certificate(entries.ToArray()), privateKey, signatureAlgorithm, suites, platformKeys, spki,
            rawPublicKey);
    }

    /// <summary>A key pair presented as a raw public key only (RFC 7250), with the ECDHE-ECDSA suites.</summary>
    /// <exception cref="InvalidOperationException">The key has no private part, or it cannot be exported.</exception>
    public static CertificateCredentials CreateRawPublicKey(TlsCrypto crypto, ECDsa key)
    {
        ArgumentNullException.ThrowIfNull(key);
        byte[] pkcs8;
        try
        {
            pkcs8 = key.ExportPkcs8PrivateKey();
        }
        catch (CryptographicException ex)
        {
            throw new InvalidOperationException(
                "The raw public key's private key cannot be exported; make it with ECDsa.Create or load it with ECDsa.ImportFromPem.", ex);
        }

        byte[] spki = key.ExportSubjectPublicKeyInfo();
        return new CertificateCredentials(RawPublicKeyCertificate(crypto, spki), PrivateKeyFactory.CreateKey(pkcs8),
            Org.BouncyCastle.Tls.SignatureAlgorithm.ecdsa, s_ecdsaSuites, new PlatformKeyPool(pkcs8, ecdsa: true), spki, rawPublicKey: null);
    }

    /// <summary>RFC 7250 §3: in (D)TLS 1.2 the Certificate message of a raw public key holds its SubjectPublicKeyInfo alone.</summary>
    private static Certificate RawPublicKeyCertificate(TlsCrypto crypto, byte[] subjectPublicKeyInfo) =>
        new(CertificateType.RawPublicKey, null,
        [
            new CertificateEntry(crypto is BcTlsCrypto bc
                ? new EncodedRawPublicKey(bc, subjectPublicKeyInfo)
                : crypto.CreateCertificate(CertificateType.RawPublicKey, subjectPublicKeyInfo), null),
        ]);

    /// <summary>Makes the server's signer for one handshake, choosing a signature scheme the client offered.</summary>
    // Our own certificates are sent in every handshake: encoded once (EncodedCertificate) where the crypto allows it.
    private static TlsCertificate CreateEntry(TlsCrypto crypto, byte[] der) =>
        crypto is BcTlsCrypto bc ? new EncodedCertificate(bc, der) : crypto.CreateCertificate(der);

    public TlsCredentialedSigner CreateSigner(TlsContext context, BcTlsCrypto crypto) =>
        CreateSigner(context, crypto, context.SecurityParameters.ClientSigAlgs);

    /// <summary>Makes a signer for one handshake, choosing one of the signature schemes the peer offered.</summary>
    public TlsCredentialedSigner CreateSigner(TlsContext context, BcTlsCrypto crypto, IList<SignatureAndHashAlgorithm>? offered)
    {
        SignatureAndHashAlgorithm? chosen = null;
        if (offered is not null)
        {
            foreach (var algorithm in offered)
            {
                if (algorithm.Signature == SignatureAlgorithm && IsSupportedHash(algorithm.Hash))
                {
                    chosen = algorithm;
                    break;
                }
            }
        }

        chosen ??= SignatureAlgorithm == Org.BouncyCastle.Tls.SignatureAlgorithm.ecdsa
            ? SignatureAndHashAlgorithm.GetInstance(HashAlgorithm.sha256, Org.BouncyCastle.Tls.SignatureAlgorithm.ecdsa)
            : SignatureAndHashAlgorithm.GetInstance(HashAlgorithm.sha256, Org.BouncyCastle.Tls.SignatureAlgorithm.rsa);

        return PlatformSigner.Supports(chosen)
            ? new PlatformSigner(_platformKeys, Chain, chosen)
            : new BcDefaultTlsCredentialedSigner(new TlsCryptoParameters(context), crypto, PrivateKey, Chain, chosen);
    }

    /// <summary>
    /// The body of the Certificate message (RFC 5246 §7.4.2) that presents <see cref="Chain"/>, encoded on first use
    /// and kept: the server's own handshake (<see cref="Ecdhe.EcdheServerHandshake"/>) sends the same bytes every time.
    /// </summary>
    public byte[] CertificateMessageBody => _certificateMessageBody ??= EncodeCertificateMessageBody(Chain);

    private byte[]? _certificateMessageBody;

    /// <summary>A signer through the platform's crypto for <paramref name="algorithm"/> (one <see cref="PlatformSigner.Supports"/>).</summary>
    public PlatformSigner CreatePlatformSigner(SignatureAndHashAlgorithm algorithm) => new(_platformKeys, Chain, algorithm);

    private static byte[] EncodeCertificateMessageBody(Certificate chain)
    {
        // certificate_list<0..2^24-1> of ASN.1Cert<1..2^24-1>.
        var entries = new byte[chain.Length][];
        int total = 0;
        for (int i = 0; i < entries.Length; i++)
        {
            entries[i] = chain.GetCertificateAt(i).GetEncoded();
            total += 3 + entries[i].Length;
        }

        var body = new byte[3 + total];
        BigEndian.WriteUInt24(body, total);
        int position = 3;
        foreach (byte[] entry in entries)
        {
            BigEndian.WriteUInt24(body.AsSpan(position), entry.Length);
            entry.CopyTo(body, position + 3);
            position += 3 + entry.Length;
        }

        return body;
    }

    private static bool IsSupportedHash(short hash) =>
        hash is HashAlgorithm.sha256 or HashAlgorithm.sha384 or HashAlgorithm.sha512;

    private static byte[] ExportPkcs8(AsymmetricAlgorithm key, X509Certificate2 certificate)
    {
        try
        {
            return key.ExportPkcs8PrivateKey();
        }
        catch (CryptographicException ex)
        {
            throw new InvalidOperationException(
                $"The private key of the certificate '{certificate.Subject}' cannot be exported; load the certificate with an exportable key (e.g. X509Certificate2.CreateFromPemFile).",
                ex);
        }
    }
}
