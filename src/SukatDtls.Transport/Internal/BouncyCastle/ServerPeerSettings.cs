using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>What every <see cref="DtlsServerPeer"/> of one listener shares: crypto, credentials and options.</summary>
internal sealed class ServerPeerSettings(BcTlsCrypto crypto, CertificateCredentials? credentials, DtlsTransportOptions options)
{
    public BcTlsCrypto Crypto { get; } = crypto;

    /// <summary>The server certificate, or null for a PSK-only server.</summary>
    public CertificateCredentials? Credentials { get; } = credentials;

    public DtlsTransportOptions Options { get; } = options;

    public int HandshakeTimeoutMillis { get; } = (int)options.HandshakeTimeout.TotalMilliseconds;

    /// <summary>Where sessions are kept for resumption; null when resumption is off.</summary>
    public IDtlsSessionCache? Sessions { get; init; }

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}
