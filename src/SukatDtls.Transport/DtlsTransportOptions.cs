using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace SukatDtls.Transport;

/// <summary>
/// Options of the DTLS server transport, configured by <c>UseDtls(options =&gt; …)</c> or bound from configuration by
/// <c>UseDtls(builder.Configuration.GetSection("Dtls"))</c> (scalars, TimeSpans as "00:00:10", enums by name, and the
/// file paths <see cref="CertificatePath"/>, <see cref="KeyPath"/>, <see cref="ClientCertificateAuthoritiesPath"/>, and the
/// tables <see cref="PskKeys"/> and <see cref="ClientRawPublicKeys"/>).
/// </summary>
public sealed class DtlsTransportOptions
{
    /// <summary>
    /// The server certificate with its private key (ECDSA or RSA), e.g.
    /// <c>X509Certificate2.CreateFromPemFile("server.pem", "server.key")</c>. Required unless <see cref="PskKeyStore"/>
    /// (a PSK-only server) or <see cref="ServerRawPublicKey"/> (raw public keys only) is set.
    /// Only cipher suites that fit its key are offered: ECDHE-ECDSA for an ECDSA key, ECDHE-RSA for an RSA key.
    /// </summary>
    public X509Certificate2? ServerCertificate { get; set; }

    /// <summary>
    /// Intermediate certificates sent after <see cref="ServerCertificate"/>, leaf-first order not required.
    /// Certificates equal to the server certificate itself and self-signed roots are left out.
    /// </summary>
    public X509Certificate2Collection? ServerCertificateChain { get; set; }

    /// <summary>How long a handshake may take from the verified ClientHello to the Finished message. Default 10 s.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// An established connection that receives no datagram for this long is closed (UDP has no FIN).
    /// Default 60 s; <see cref="Timeout.InfiniteTimeSpan"/> disables it.
    /// </summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Whether the application's reads continue inline on the receive loop's thread that decrypted the record, instead
    /// of being dispatched to the thread pool (the same trade as Kestrel's
    /// <c>SocketTransportOptions.UnsafePreferInlineScheduling</c>: application code runs on an I/O thread). Saves a
    /// thread wake-up per received record (its cost is in docs/benchmarks.md of the repository), but a handler that
    /// blocks after a read — synchronous I/O, sync-over-async on its own input — then holds up every connection that
    /// loop serves (on Linux x64/Arm64 the transport runs one loop per two cores), or deadlocks its own connection's
    /// receiving. Only for handlers that are asynchronous throughout. Where .NET's socket engine receives (other
    /// platforms), ignored when <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c> (the loop then runs on the engine's
    /// thread, which every socket of the process shares). Default false.
    /// </summary>
    public bool UnsafePreferInlineScheduling { get; set; }

    /// <summary>
    /// Whether established connections receive on the transport's own epoll loops (<c>PeerReceiveEngine</c>) where they
    /// can run (Linux, x64 or Arm64); false: on .NET's socket engine, as on other platforms. Default true. Internal:
    /// the tests run the fallback path with it.
    /// </summary>
    internal bool UseOwnReceiveLoops { get; set; } = true;

    /// <summary>
    /// Whether full certificate handshakes of the common kind (ECDHE with X25519 or P-256, AEAD suites, the extended
    /// master secret, no client certificate) run on the transport's own handshake (<c>EcdheServerHandshake</c>) rather
    /// than BouncyCastle's; every other handshake is BouncyCastle's either way. Default true. Internal: the tests run
    /// both paths with it.
    /// </summary>
    internal bool UseOwnServerHandshake { get; set; } = true;

    /// <summary>
    /// How many handshakes may be in progress at once: computing, or waiting for the peer's next flight. Default 1,024.
    /// </summary>
    /// <remarks>
    /// <para>
    /// Each handshake in progress has a thread of its own (BouncyCastle's handshake API blocks), but a handshake that
    /// waits for its peer holds only that parked thread — about 90 KB of memory, no CPU — so on a real network, where a
    /// handshake is mostly round trips, many can be in progress while about one per core computes (the rest queue for
    /// the CPU in order, those nearest to done first). Threads are reused and end after 30 s without work.
    /// </para>
    /// <para>
    /// When the capacity is full, a new verified peer takes the place of a handshake that has waited for its peer for
    /// at least <see cref="HandshakeRetransmissionTimeout"/>, taken from the source network (IPv4 /24, IPv6 /64) with
    /// the most handshakes in progress and never from a network with fewer than the newcomer's: peers that pass the
    /// cookie exchange and then go silent can fill only what nobody else wants, and give way first. When no handshake
    /// can give way, the new peer gets no answer and its retransmitted ClientHello tries again. Both are counted
    /// (<c>dtls.evicted_handshakes</c>, <c>dtls.refused_peers</c> with reason <c>handshake_capacity</c>) and logged at
    /// most once a second (event ids 18 and 8).
    /// </para>
    /// </remarks>
    public int MaxConcurrentHandshakes { get; set; } = 1024;

    /// <summary>No longer used: a handshake waiting for its peer no longer waits for a thread (see <see cref="MaxConcurrentHandshakes"/>). Kept so that existing configuration still binds.</summary>
    [System.ComponentModel.EditorBrowsable(System.ComponentModel.EditorBrowsableState.Never)]
    public int HandshakeQueueLength { get; set; } = 256;

    /// <summary>
    /// How many established connections may wait for Kestrel to accept them; beyond it new connections are refused.
    /// Default 512.
    /// </summary>
    public int AcceptQueueLength { get; set; } = 512;

    /// <summary>
    /// How often the HMAC key of the stateless cookie is replaced. A cookie made with the previous key is still
    /// accepted, so a cookie lives between one and two periods. Default 60 s.
    /// </summary>
    public TimeSpan CookieKeyRotationInterval { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// A secret (hexadecimal, at least 16 bytes) from which every node behind one load balancer derives the same cookie
    /// key, so that a cookie one node sent in its HelloVerifyRequest is accepted by another. Default: none, each
    /// listener makes random keys of its own.
    /// </summary>
    /// <remarks>
    /// The key of each <see cref="CookieKeyRotationInterval"/> period is derived from the secret and the period's number
    /// (Unix time divided by the interval), so nodes rotate in step without talking to each other, as long as their
    /// clocks agree (NTP) and they have the same interval; the previous period's key is still accepted. Needed only
    /// when a client's datagrams can reach another node between its two ClientHellos: a balancer that does not hash the
    /// 5-tuple, or a NAT that rebinds the client's port. Keep it secret (an environment variable or a secret store): who
    /// knows it can make cookies for any address. See docs/scale-out.md.
    /// </remarks>
    public string? CookieSecret { get; set; }

    /// <summary>
    /// Whether clients are asked for a certificate: <see cref="ClientCertificateMode.NoCertificate"/> (default),
    /// <see cref="ClientCertificateMode.AllowCertificate"/> (asked, optional) or
    /// <see cref="ClientCertificateMode.RequireCertificate"/>. <see cref="ClientCertificateMode.DelayCertificate"/> is
    /// not supported (DTLS 1.2 has no post-handshake authentication).
    /// </summary>
    /// <remarks>
    /// A certificate the client sends is always validated, also with <see cref="ClientCertificateMode.AllowCertificate"/>:
    /// an X.509 chain to <see cref="ClientCertificateAuthorities"/> (or the system trust), valid now, for client
    /// authentication (EKU clientAuth), revocation as <see cref="ClientCertificateRevocationMode"/> says, then
    /// <see cref="ClientCertificateValidation"/>. A refused certificate ends the handshake with the matching alert
    /// (unknown_ca, certificate_expired, unsupported_certificate, bad_certificate, certificate_revoked,
    /// certificate_unknown); a missing one under <see cref="ClientCertificateMode.RequireCertificate"/> with
    /// handshake_failure. The certificate is in <c>ITlsConnectionFeature.ClientCertificate</c> and
    /// <c>IDtlsSessionFeature.PeerCertificate</c>. Certificates are asked for in certificate handshakes only: in a PSK
    /// handshake the key authenticates the client.
    /// </remarks>
    public ClientCertificateMode ClientCertificateMode { get; set; } = ClientCertificateMode.NoCertificate;

    /// <summary>
    /// Trust only these authorities for client certificates (custom root trust), instead of the system trust store.
    /// Their names are also sent in the CertificateRequest.
    /// </summary>
    public X509Certificate2Collection? ClientCertificateAuthorities { get; set; }

    /// <summary>Revocation checking of client certificate chains. Default <see cref="X509RevocationMode.NoCheck"/>.</summary>
    public X509RevocationMode ClientCertificateRevocationMode { get; set; } = X509RevocationMode.NoCheck;

    /// <summary>
    /// Decides about a client certificate after chain validation, as Kestrel's HTTPS option of the same name: it gets
    /// the certificate, the built chain and the errors found, and returns whether to accept it. Without it, a
    /// certificate is accepted when there are no errors.
    /// </summary>
    public Func<X509Certificate2, X509Chain?, SslPolicyErrors, bool>? ClientCertificateValidation { get; set; }

    /// <summary>
    /// The largest UDP payload the transport sends: handshake messages are fragmented to fit, and application records
    /// are cut to fit (<c>IDtlsDatagramFeature.MaxRecordSize</c> follows from it). Default 1,232 bytes, the payload
    /// that fits the IPv6 minimum MTU (1,280) and so crosses any internet path without IP fragmentation. Where the
    /// kernel knows a smaller path MTU for a peer, that is used instead. Range 256 to 65,507.
    /// </summary>
    public int MaxDatagramSize { get; set; } = Internal.DatagramSizes.Default;

    /// <summary>
    /// The length of the Connection IDs (RFC 9146) the server gives clients that ask for one: 0 turns them off, else 4
    /// to 16 bytes. Default 8.
    /// </summary>
    /// <remarks>
    /// <para>
    /// A client that offers the connection_id extension gets a random, unique Connection ID, and puts it in every record
    /// it sends. When its address or port changes — a NAT that rebinds after a silence, a phone that changes network — its
    /// records reach the listening socket instead of its connection's socket; the listener finds the connection by the
    /// ID, and the connection moves to the new address for a record that carried the ID, authenticated and is newer than
    /// any before (RFC 9146 §6): its socket is <c>connect()</c>ed to the new address, <c>RemoteEndPoint</c> changes, and the
    /// handler keeps its pipes (<see cref="Features.IDtlsMigrationFeature"/> tells it). Until the new address has shown
    /// it receives what is sent to it, it gets at most three times the bytes it sent. Clients that do not offer the
    /// extension are not affected. A fixed length per listener makes the routing a lookup.
    /// </para>
    /// <para>
    /// A client whose address changes while its handshake is still running needs a new handshake: the Connection ID
    /// exists only once the handshake is done.
    /// </para>
    /// </remarks>
    public int ConnectionIdLength { get; set; } = 8;

    /// <summary>
    /// How long the handshake waits for the peer's next flight before it resends its own; each resend doubles it, up to
    /// BouncyCastle's fixed 60 s (RFC 6347 §4.2.4.1). Default 1 s, as the RFC recommends. Range 100 ms to 60 s.
    /// </summary>
    public TimeSpan HandshakeRetransmissionTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Enables PSK and ECDHE-PSK cipher suites, looking keys up here.</summary>
    /// <remarks>
    /// Offered besides the certificate suites (or alone, without <see cref="ServerCertificate"/>):
    /// TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256, TLS_PSK_WITH_AES_128_GCM_SHA256,
    /// TLS_PSK_WITH_AES_128_CCM and TLS_PSK_WITH_AES_128_CCM_8 (CoAP's mandatory suite). The store is asked once per full
    /// PSK handshake, on a handshake thread that waits for it at most until the handshake timeout. An unknown identity
    /// (null) is refused with unknown_psk_identity, a client with another key with decrypt_error, a store that throws or
    /// does not answer in time with internal_error; each is logged (category <c>SukatDtls.Transport.Security</c>). The
    /// handler finds the identity in <c>IDtlsSessionFeature.PskIdentity</c>.
    /// </remarks>
    public IDtlsPskKeyStore? PskKeyStore { get; set; }

    /// <summary>The PSK identity hint sent to clients (optional).</summary>
    public string? PskIdentityHint { get; set; }

    /// <summary>
    /// A key pair (ECDSA P-256, with its private key) the server presents as a raw public key (RFC 7250) to clients that
    /// ask for one, instead of a certificate. Optional: without it, the key of <see cref="ServerCertificate"/> (or
    /// <see cref="CertificatePath"/>) serves such clients.
    /// </summary>
    /// <remarks>
    /// <para>
    /// A client asks in its <c>server_certificate_type</c> extension. The server presents a raw public key when the
    /// client lists it first, lists no X.509, or is itself in raw-public-key mode (offers only a raw public key of its
    /// own, as CoAP's RawPublicKey mode and <c>coap-client-gnutls -M</c> do — GnuTLS lists X.509 first whatever its
    /// mode); every other client gets the certificate. With this key and no certificate, clients that do not ask for a
    /// raw public key can still use the PSK suites, and nothing else.
    /// </para>
    /// <para>
    /// Only ECDHE-ECDSA suites go with a raw public key (CoAP's TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 among them). The key
    /// must be exportable (<c>ECDsa.Create(ECCurve.NamedCurves.nistP256)</c>, or <c>ECDsa.ImportFromPem</c>). Clients
    /// pin the key, usually by the SHA-256 of its SubjectPublicKeyInfo.
    /// </para>
    /// </remarks>
    public System.Security.Cryptography.ECDsa? ServerRawPublicKey { get; set; }

    /// <summary>
    /// Accepts clients that authenticate with a raw public key (RFC 7250) when it says yes: the LwM2M way of admitting
    /// devices by their key, without a PKI. Set this or <see cref="ClientRawPublicKeys"/>.
    /// </summary>
    /// <remarks>
    /// <para>
    /// With a store, the server accepts the <c>client_certificate_type</c> raw_public_key and asks such a client for its
    /// key (a CertificateRequest), whatever <see cref="ClientCertificateMode"/> says; X.509 clients go on as that mode
    /// says, so devices with keys and clients with certificates share one server. A key the store does not accept is
    /// refused with alert access_denied (RFC 5246 §7.2.2: a well-formed credential that access control refuses), a store
    /// that throws or does not answer within the handshake timeout with internal_error; each is logged (category
    /// <c>SukatDtls.Transport.Security</c>, event ids 26-29, with the key's SHA-256). A client in raw-public-key mode that
    /// sends no key is anonymous, refused only under <see cref="ClientCertificateMode.RequireCertificate"/>. Without a
    /// store, a server that asks for certificates refuses a client that offers only a raw public key with
    /// unsupported_certificate (RFC 7250 §4.2).
    /// </para>
    /// <para>
    /// Raw public keys belong to certificate handshakes (ECDHE-ECDSA): the server needs a certificate or
    /// <see cref="ServerRawPublicKey"/>. The handler finds the key in <c>IDtlsSessionFeature.PeerRawPublicKey</c>; a resumed
    /// session keeps the key accepted when it was made.
    /// </para>
    /// </remarks>
    public IDtlsRawPublicKeyStore? ClientRawPublicKeyStore { get; set; }

    /// <summary>
    /// The client raw public keys to accept, from configuration (<c>Dtls:ClientRawPublicKeys:0</c>, …): each entry is
    /// the SHA-256 of a key's SubjectPublicKeyInfo in hex (64 digits; colons and spaces between them are ignored), or a
    /// PEM public key (<c>-----BEGIN PUBLIC KEY-----</c>). Replaces <see cref="ClientRawPublicKeyStore"/> (set one or the
    /// other).
    /// </summary>
    /// <remarks>
    /// A fixed list, read once at start. The hash of a device's key file:
    /// <c>openssl pkey -in device.key -pubout -outform DER | sha256sum</c>. For many devices, or keys that change,
    /// implement <see cref="IDtlsRawPublicKeyStore"/>.
    /// </remarks>
    public IList<string> ClientRawPublicKeys { get; } = [];

    /// <summary>Whether clients may resume sessions by session ID (abbreviated handshake). Default true.</summary>
    public bool EnableSessionResumption { get; set; } = true;

    /// <summary>Where sessions are kept for resumption; default: in memory, bounded by <see cref="MaxCachedSessions"/> and <see cref="SessionLifetime"/>.</summary>
    public IDtlsSessionCache? SessionCache { get; set; }

    /// <summary>How many sessions the default in-memory cache keeps (least recently stored go first). Default 10,000.</summary>
    public int MaxCachedSessions { get; set; } = 10_000;

    /// <summary>How long a session can be resumed after it was made. Default 1 hour.</summary>
    public TimeSpan SessionLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// The most peers with a socket of their own at once (in handshake or established); beyond it new peers get no
    /// answer. Default: unlimited.
    /// </summary>
    public int? MaxConnections { get; set; }

    /// <summary>
    /// How many handshakes one source IP address may start per second; beyond it its ClientHellos get no answer.
    /// Default: unlimited (many devices may share one address behind a NAT).
    /// </summary>
    public int? MaxHandshakesPerSecondPerAddress { get; set; }

    /// <summary>
    /// The server certificate file, as an alternative to <see cref="ServerCertificate"/> that can be set from
    /// configuration (<c>Dtls:CertificatePath</c>): a PEM certificate (with <see cref="KeyPath"/>, unless the private key
    /// is in the same file), or a PKCS#12 (.pfx, .p12) file with its key (and <see cref="CertificatePassword"/>).
    /// </summary>
    /// <remarks>
    /// A relative path is relative to the host's content root (as Kestrel's certificate paths). Certificates after the
    /// first one in a PEM file, or the certificates without a key in a PKCS#12 file, are sent as the chain unless
    /// <see cref="ServerCertificateChain"/> is set. The files are watched: when they change, new handshakes use the new
    /// certificate (handshakes in progress and established connections keep theirs); a change that cannot be loaded (a
    /// half-written file, a key that does not match yet) keeps the current certificate, logs a warning, and the next
    /// change is tried again. Event ids 40-44, category <c>SukatDtls.Transport.Certificates</c>.
    /// </remarks>
    public string? CertificatePath { get; set; }

    /// <summary>The PEM private key of <see cref="CertificatePath"/>, when it is not in the certificate's file.</summary>
    public string? KeyPath { get; set; }

    /// <summary>
    /// The password of a PKCS#12 <see cref="CertificatePath"/>, or of an encrypted PEM <see cref="KeyPath"/>
    /// (<c>ENCRYPTED PRIVATE KEY</c>). Keep it out of appsettings.json: an environment variable or a secret store.
    /// </summary>
    public string? CertificatePassword { get; set; }

    /// <summary>
    /// A PEM file of one or more CA certificates: <see cref="ClientCertificateAuthorities"/> from a file, settable from
    /// configuration. A relative path is relative to the host's content root. Read once, at start.
    /// </summary>
    public string? ClientCertificateAuthoritiesPath { get; set; }

    /// <summary>
    /// Pre-shared keys from configuration, for small deployments: identity (UTF-8 text, matched exactly) to key (hex, at
    /// least 16 bytes). Enables the PSK suites like <see cref="PskKeyStore"/>, which it replaces (set one or the other).
    /// </summary>
    /// <remarks>
    /// This is a fixed in-memory table, read once at start: for many devices, or keys that change, implement
    /// <see cref="IDtlsPskKeyStore"/> over a real key store. Keys are secrets: put them in environment variables
    /// (<c>Dtls__PskKeys__device-1=…</c>) or a secret store's configuration provider, not in a committed appsettings.json.
    /// Error messages name the identity, never the key. Configuration keys are case-insensitive and cannot contain
    /// ':', so identities that differ only in case, or that contain ':', need an <see cref="IDtlsPskKeyStore"/>.
    /// </remarks>
    public IDictionary<string, string> PskKeys { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>The configuration sections bound into these options by <c>UseDtls(configuration)</c>: validation messages name their keys.</summary>
    internal List<Microsoft.Extensions.Configuration.IConfiguration> ConfigurationSections { get; } = [];

    /// <summary>Where relative file paths start: the host's content root; null means the current directory.</summary>
    internal string? ContentRootPath { get; set; }

    /// <summary>Checks the options (<see cref="Internal.DtlsTransportOptionsRules"/>, the same rules as start-up validation).</summary>
    /// <exception cref="InvalidOperationException">Something is wrong; the message says what, naming each option.</exception>
    internal void Validate()
    {
        var failures = Internal.DtlsTransportOptionsRules.Check(this);
        if (failures.Count > 0)
        {
            throw new InvalidOperationException(string.Join(Environment.NewLine, failures));
        }
    }

    /// <summary>A shallow copy: the listeners' view, with file-based options resolved into objects.</summary>
    internal DtlsTransportOptions Clone() => (DtlsTransportOptions)MemberwiseClone();
}
