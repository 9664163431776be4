using System.Net;
using Microsoft.Extensions.Logging;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The limits a verified peer must pass before it gets a socket and a handshake: <see cref="DtlsTransportOptions.MaxConnections"/>,
/// <see cref="DtlsTransportOptions.MaxHandshakesPerSecondPerAddress"/>, and a place in the <see cref="HandshakeScheduler"/>
/// (which may take it from a handshake that has long waited for a silent peer). Checked only after the cookie, so that
/// peers that did not prove their address cannot spend anyone's budget. A refused peer gets no answer (its
/// retransmitted ClientHello, with a still valid cookie, tries again); refusals and evictions are counted and logged at
/// most once a second.
/// </summary>
internal sealed class PeerAdmission(DtlsTransportOptions options, HandshakeScheduler handshakes, DtlsListenerStatistics statistics,
    RefusalLogThrottle refusalLog, TimeProvider timeProvider, ILogger logger)
{
    private readonly HandshakeRateLimiter? _rateLimiter = options.MaxHandshakesPerSecondPerAddress is { } perSecond
        ? new HandshakeRateLimiter(perSecond, timeProvider)
        : null;

    /// <summary>The handshake's place when a handshake may start for <paramref name="from"/>; null when it is refused.</summary>
    /// <param name="from">The verified peer.</param>
    /// <param name="peerCount">Peers that have a socket now (in handshake, waiting for accept, or established).</param>
    public HandshakeSlot? TryAdmit(SocketAddress from, int peerCount)
    {
        if (options.MaxConnections is { } maxConnections && peerCount >= maxConnections)
        {
            // Logged before counted: whoever sees the count (a test, the status page) finds the log line written.
            if (refusalLog.ShouldLog())
            {
                DtlsLog.ConnectionLimitReached(logger, from.ToIPEndPoint(), maxConnections);
            }

            statistics.OnRefusedByConnectionLimit();

            return null;
        }

        if (_rateLimiter is not null && !_rateLimiter.TryAcquire(from.ToIPEndPoint().Address))
        {
            if (refusalLog.ShouldLog())
            {
                DtlsLog.HandshakeRateLimited(logger, from.ToIPEndPoint(), options.MaxHandshakesPerSecondPerAddress!.Value);
            }

            statistics.OnRefusedByRateLimit();

            return null;
        }

        var peer = from.ToIPEndPoint();
        var slot = handshakes.TryAdmit(SourcePrefix.Of(peer), out var evicted);
        if (slot is null)
        {
            if (refusalLog.ShouldLog())
            {
                DtlsLog.HandshakeCapacityExceeded(logger, peer, handshakes.Capacity);
            }

            statistics.OnHandshakeRefused();

            return null;
        }

        slot.Peer = peer;
        if (evicted is not null)
        {
            statistics.OnHandshakeEvicted();
            if (refusalLog.ShouldLog())
            {
                DtlsLog.HandshakeEvicted(logger, handshakes.Capacity, evicted.Peer!, SourcePrefix.Describe(evicted.Peer!),
                    evicted.EvictedAfter.TotalSeconds, peer);
            }

            evicted.Evict?.Invoke();
        }

        return slot;
    }
}
