using Microsoft.Extensions.Logging;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>What every <see cref="DtlsServerPeer"/> of one listener shares: crypto, credentials and options.</summary>
/// <param name="crypto">BouncyCastle's crypto.</param>
/// <param name="credentials">The server certificate (replaceable: certificate reload), or none for a PSK-only server.</param>
/// <param name="options">The transport's options.</param>
/// <param name="securityLogger">Where peer authentication (client certificates and raw public keys, PSK) is logged (<see cref="DtlsSecurityLog"/>).</param>
internal sealed class ServerPeerSettings(BcTlsCrypto crypto, ServerCredentialsProvider credentials, DtlsTransportOptions options, ILogger securityLogger)
{
    public BcTlsCrypto Crypto { get; } = crypto;

    /// <summary>
    /// The server certificate for a handshake that starts now, or null for a PSK-only server. It may be replaced while
    /// the server runs (certificate reload): a handshake reads it once, when it starts (<see cref="DtlsServerPeer"/>).
    /// </summary>
    public CertificateCredentials? Credentials => credentials.Current;

    /// <summary>The configured server raw public key (<see cref="DtlsTransportOptions.ServerRawPublicKey"/>), or null.</summary>
    public CertificateCredentials? RawPublicKey => credentials.RawPublicKey;

    public DtlsTransportOptions Options { get; } = options;

    public int HandshakeTimeoutMillis { get; } = (int)options.HandshakeTimeout.TotalMilliseconds;

    /// <summary>Where client certificate and PSK decisions are logged (<see cref="DtlsSecurityLog"/>).</summary>
    public ILogger SecurityLogger { get; } = securityLogger;

    /// <summary>The client certificate policy (request, trust, validation) derived once from the options.</summary>
    public ClientCertificateValidator ClientCertificates { get; } = new(options);

    /// <summary>Where sessions are kept for resumption; null when resumption is off.</summary>
    public IDtlsSessionCache? Sessions { get; init; }

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Where session lookups are counted (<c>dtls.session_cache.lookups</c>); null without metrics.</summary>
    public DtlsMetrics? Metrics { get; init; }

    /// <summary>Where failures of the session cache and removals are logged (<see cref="DtlsSessionLog"/>).</summary>
    public ILogger SessionLogger { get; init; } = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    /// <summary>Failures of an application's session cache: logged at most once a second, every handshake of the listener together.</summary>
    public LogThrottle SessionCacheFailures { get; } = new(TimeProvider.System);
}
