using System.Security.Cryptography.X509Certificates;

namespace SukatDtls.Transport.Client;

/// <summary>Options of the DTLS client, <see cref="DtlsConnectionFactory"/>.</summary>
/// <remarks>
/// The server certificate is validated against the system's trust store unless one of these is set, in this order of
/// precedence: <see cref="DangerousAcceptAnyServerCertificate"/>, <see cref="PinnedServerCertificate"/> or
/// <see cref="PinnedServerPublicKeySha256"/>, <see cref="TrustedCertificateAuthorities"/>. Chain validation also checks the certificate's name against
/// <see cref="ServerName"/> (or the host of the endpoint) and its validity period.
/// </remarks>
public sealed class DtlsClientOptions
{
    /// <summary>
    /// The name the server certificate must carry, also sent as SNI when it is a DNS name. Default: the host name of a
    /// <see cref="System.Net.DnsEndPoint"/>, or the IP address.
    /// </summary>
    public string? ServerName { get; set; }

    /// <summary>
    /// Trust only these certificate authorities (for example a CA bundle loaded with
    /// <see cref="X509Certificate2Collection.ImportFromPemFile(string)"/>) instead of the system trust store.
    /// </summary>
    public X509Certificate2Collection? TrustedCertificateAuthorities { get; set; }

    /// <summary>Accept exactly this server certificate (compared byte for byte), whoever signed it.</summary>
    public X509Certificate2? PinnedServerCertificate { get; set; }

    /// <summary>
    /// Accept the server whose public key has this SHA-256 (of its DER SubjectPublicKeyInfo, 32 bytes), whoever signed
    /// it: presented as a raw public key (RFC 7250), which the client then asks for first, or in a certificate. The way
    /// CoAP and LwM2M devices trust a server without a PKI.
    /// </summary>
    /// <remarks>
    /// <c>openssl pkey -in server.key -pubout -outform DER | sha256sum</c> prints it from the server's key file, and
    /// <c>SHA256.HashData(key.ExportSubjectPublicKeyInfo())</c> from a .NET key. Like
    /// <see cref="PinnedServerCertificate"/>, it replaces chain and name validation; the two cannot be combined.
    /// </remarks>
    public byte[]? PinnedServerPublicKeySha256 { get; set; }

    /// <summary>
    /// Accept any server certificate without validation. Only for tests and diagnostics: the connection is then open
    /// to interception by anyone on the path.
    /// </summary>
    public bool DangerousAcceptAnyServerCertificate { get; set; }

    /// <summary>
    /// A client certificate with its private key (ECDSA or RSA), sent when the server asks for one and accepts its key
    /// type; otherwise an empty certificate message is sent, and the server decides.
    /// </summary>
    public X509Certificate2? ClientCertificate { get; set; }

    /// <summary>
    /// A key pair (ECDSA P-256, with its private key) to authenticate with as a raw public key (RFC 7250) instead of a
    /// certificate: offered in the <c>client_certificate_type</c> extension, and sent when the server accepts raw public
    /// keys and asks for one (a server that does not gets an empty Certificate message, and decides). Not together with
    /// <see cref="ClientCertificate"/>.
    /// </summary>
    public System.Security.Cryptography.ECDsa? ClientRawPublicKey { get; set; }

    /// <summary>The PSK identity to offer (with <see cref="PskKey"/>); enables PSK and ECDHE-PSK suites.</summary>
    /// <remarks>
    /// The PSK suites are offered first (ECDHE-PSK before plain PSK), the certificate suites after them: a server that
    /// knows the key picks PSK, and no server certificate is involved; one that does not may still pick a certificate
    /// suite, and its certificate is then validated as usual. A server with another key refuses with decrypt_error,
    /// one that does not know the identity with unknown_psk_identity (an <see cref="System.Security.Authentication.AuthenticationException"/>
    /// saying so).
    /// </remarks>
    public string? PskIdentity { get; set; }

    /// <summary>The pre-shared key of <see cref="PskIdentity"/>.</summary>
    public byte[]? PskKey { get; set; }

    /// <summary>Intermediate certificates sent after <see cref="ClientCertificate"/> (self-signed roots are left out).</summary>
    public X509Certificate2Collection? ClientCertificateChain { get; set; }

    /// <summary>
    /// The largest UDP payload the client sends (handshake fragments and records). Default 1,232 bytes (fits the IPv6
    /// minimum MTU); a smaller path MTU the kernel knows is used instead. Range 256 to 65,507.
    /// </summary>
    public int MaxDatagramSize { get; set; } = Internal.DatagramSizes.Default;

    /// <summary>How long the handshake waits before resending its flight; doubles each time up to 60 s. Default 1 s.</summary>
    public TimeSpan HandshakeRetransmissionTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long the handshake may take, retransmissions included; then <c>ConnectAsync</c> throws
    /// <see cref="TimeoutException"/>. For a host name with several addresses it bounds all the attempts together,
    /// counted from the first (name resolution comes before it). Default 10 s.
    /// </summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

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

    /// <summary>A connection that receives nothing for this long is closed. Default: never (a client decides itself).</summary>
    public TimeSpan IdleTimeout { get; set; } = Timeout.InfiniteTimeSpan;

    /// <summary>
    /// How many client handshakes run at once (each on a dedicated thread). Every address a connect tries at the same
    /// time counts; an address that finds no place waits until an earlier attempt of the same connect ends. Default 16.
    /// </summary>
    public int MaxConcurrentHandshakes { get; set; } = 16;

    /// <summary>
    /// Whether to offer the connection_id extension (RFC 9146), so that a server that supports it gives this client a
    /// Connection ID and keeps the session when the client's address or port changes (a NAT rebinding). The client
    /// asks for none for itself: its own socket is connected. Default false.
    /// </summary>
    public bool RequestConnectionId { get; set; }

    internal void Validate()
    {
        var failures = new List<string>();
        void Report(string? problem, string property) => Internal.OptionLimits.Report(problem, $"{nameof(DtlsClientOptions)}.{property}", failures);

        Report(Internal.OptionLimits.Timeout(HandshakeTimeout), nameof(HandshakeTimeout));
        Report(Internal.OptionLimits.Timeout(IdleTimeout, infiniteAllowed: true), nameof(IdleTimeout));
        Report(Internal.OptionLimits.Positive(MaxConcurrentHandshakes), nameof(MaxConcurrentHandshakes));
        Report(Internal.DatagramSizes.Check(MaxDatagramSize), nameof(MaxDatagramSize));
        Report(Internal.OptionLimits.RetransmissionTimeout(HandshakeRetransmissionTimeout), nameof(HandshakeRetransmissionTimeout));
        if ((PskIdentity is null) != (PskKey is null))
        {
            failures.Add($"{nameof(DtlsClientOptions)}.{nameof(PskIdentity)} and {nameof(PskKey)} go together.");
        }

        if (ClientCertificate is { HasPrivateKey: false })
        {
            failures.Add($"{nameof(DtlsClientOptions)}.{nameof(ClientCertificate)} ('{ClientCertificate.Subject}') has no private key.");
        }

        if (ClientCertificate is not null && ClientRawPublicKey is not null)
        {
            failures.Add($"{nameof(DtlsClientOptions)}.{nameof(ClientCertificate)} and {nameof(ClientRawPublicKey)} are both set; a client authenticates with one of them.");
        }

        if (ClientRawPublicKey is { } key)
        {
            Internal.OptionLimits.Report(Internal.RawPublicKeyChecks.Check(key), $"{nameof(DtlsClientOptions)}.{nameof(ClientRawPublicKey)}", failures);
        }

        if (PinnedServerPublicKeySha256 is { Length: not System.Security.Cryptography.SHA256.HashSizeInBytes } pin)
        {
            failures.Add($"{nameof(DtlsClientOptions)}.{nameof(PinnedServerPublicKeySha256)} has {pin.Length} bytes; a SHA-256 has {System.Security.Cryptography.SHA256.HashSizeInBytes}.");
        }

        if (PinnedServerPublicKeySha256 is not null && PinnedServerCertificate is not null)
        {
            failures.Add($"{nameof(DtlsClientOptions)}.{nameof(PinnedServerCertificate)} and {nameof(PinnedServerPublicKeySha256)} are both set; pin one of them.");
        }

        if (failures.Count > 0)
        {
            throw new InvalidOperationException(string.Join(Environment.NewLine, failures));
        }
    }
}
