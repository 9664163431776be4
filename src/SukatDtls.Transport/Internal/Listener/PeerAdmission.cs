using System.Net;
using Microsoft.Extensions.Logging;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The limits a verified peer must pass before it gets a socket and a handshake: <see cref="DtlsTransportOptions.MaxConnections"/>,
/// <see cref="DtlsTransportOptions.MaxHandshakesPerSecondPerAddress"/>, and room in the handshake pool. Checked only
/// after the cookie, so that peers that did not prove their address cannot spend anyone's budget. A refused peer gets
/// no answer (its retransmitted ClientHello, with a still valid cookie, tries again); refusals are counted and logged
/// at most once a second.
/// </summary>
internal sealed class PeerAdmission(DtlsTransportOptions options, HandshakeWorkerPool handshakes, DtlsListenerStatistics statistics,
    RefusalLogThrottle refusalLog, TimeProvider timeProvider, ILogger logger)
{
    private readonly HandshakeRateLimiter? _rateLimiter = options.MaxHandshakesPerSecondPerAddress is { } perSecond
        ? new HandshakeRateLimiter(perSecond, timeProvider)
        : null;

    /// <summary>True when a handshake may start for <paramref name="from"/>; a handshake slot is then reserved.</summary>
    /// <param name="from">The verified peer.</param>
    /// <param name="peerCount">Peers that have a socket now (in handshake, waiting for accept, or established).</param>
    public bool TryAdmit(SocketAddress from, int peerCount)
    {
        if (options.MaxConnections is { } maxConnections && peerCount >= maxConnections)
        {
            statistics.OnRefusedByConnectionLimit();
            if (refusalLog.ShouldLog())
            {
                DtlsLog.ConnectionLimitReached(logger, from.ToIPEndPoint(), maxConnections);
            }

            return false;
        }

        if (_rateLimiter is not null && !_rateLimiter.TryAcquire(from.ToIPEndPoint().Address))
        {
            statistics.OnRefusedByRateLimit();
            if (refusalLog.ShouldLog())
            {
                DtlsLog.HandshakeRateLimited(logger, from.ToIPEndPoint(), options.MaxHandshakesPerSecondPerAddress!.Value);
            }

            return false;
        }

        if (!handshakes.TryReserve())
        {
            statistics.OnHandshakeRefused();
            if (refusalLog.ShouldLog())
            {
                DtlsLog.HandshakeCapacityExceeded(logger, from.ToIPEndPoint(), options.MaxConcurrentHandshakes);
            }

            return false;
        }

        return true;
    }
}
