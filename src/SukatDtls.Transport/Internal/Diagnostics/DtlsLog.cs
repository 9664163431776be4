using System.Net;
using Microsoft.Extensions.Logging;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The transport's log messages. Event ids are stable: operators filter and alert on them. They follow sukat_dtls's
/// log points: listening, cookie sent, new peer socket, handshake finished or failed, connection closed.
/// </summary>
internal static partial class DtlsLog
{
    [LoggerMessage(1, LogLevel.Information, "DTLS listening at {EndPoint}.", EventName = "Listening")]
    public static partial void Listening(ILogger logger, IPEndPoint endPoint);

    [LoggerMessage(17, LogLevel.Debug, "DTLS cryptography on {EndPoint}: X25519 by {X25519}; established records: {Records}; SHA-2 and handshake signatures by .NET; the handshake protocol by BouncyCastle.", EventName = "CryptoProviders")]
    public static partial void CryptoProviders(ILogger logger, IPEndPoint endPoint, string x25519, string records);

    [LoggerMessage(2, LogLevel.Debug, "Sent a HelloVerifyRequest cookie to {RemoteEndPoint}.", EventName = "CookieSent")]
    public static partial void CookieSent(ILogger logger, EndPoint remoteEndPoint);

    [LoggerMessage(3, LogLevel.Debug, "New peer socket for {RemoteEndPoint} on {LocalEndPoint} (connection {ConnectionId}).", EventName = "PeerSocketCreated")]
    public static partial void PeerSocketCreated(ILogger logger, EndPoint remoteEndPoint, EndPoint? localEndPoint, string connectionId);

    [LoggerMessage(4, LogLevel.Debug, "Connection {ConnectionId} from {RemoteEndPoint}: handshake finished with {CipherSuite} in {DurationMs:F1} ms.", EventName = "HandshakeCompleted")]
    public static partial void HandshakeCompleted(ILogger logger, string connectionId, EndPoint remoteEndPoint, string cipherSuite, double durationMs);

    [LoggerMessage(5, LogLevel.Information, "Connection {ConnectionId} from {RemoteEndPoint}: handshake failed: {Reason}", EventName = "HandshakeFailed")]
    public static partial void HandshakeFailed(ILogger logger, string connectionId, EndPoint remoteEndPoint, string reason, Exception? exception);

    [LoggerMessage(6, LogLevel.Debug, "Connection {ConnectionId} from {RemoteEndPoint} closed: {Reason} (after {DurationMs:F0} ms).", EventName = "ConnectionClosed")]
    public static partial void ConnectionClosed(ILogger logger, string connectionId, EndPoint remoteEndPoint, string reason, double durationMs);

    [LoggerMessage(7, LogLevel.Trace, "Dropped a datagram of {Length} bytes from {RemoteEndPoint}: {Reason}.", EventName = "DatagramDropped")]
    public static partial void DatagramDropped(ILogger logger, EndPoint remoteEndPoint, int length, string reason);

    [LoggerMessage(8, LogLevel.Warning, "No handshake capacity for {RemoteEndPoint}: {MaxConcurrentHandshakes} handshakes are in progress and none can give way (MaxConcurrentHandshakes); the peer's retransmission will retry; logged at most once a second.", EventName = "HandshakeCapacityExceeded")]
    public static partial void HandshakeCapacityExceeded(ILogger logger, EndPoint remoteEndPoint, int maxConcurrentHandshakes);

    [LoggerMessage(18, LogLevel.Warning, "Handshake capacity ({MaxConcurrentHandshakes}) full: the handshake with {EvictedEndPoint} (network {Network}) gave way to {RemoteEndPoint} after waiting {WaitedSeconds:F1} s for its peer; logged at most once a second.", EventName = "HandshakeEvicted")]
    public static partial void HandshakeEvicted(ILogger logger, int maxConcurrentHandshakes, EndPoint evictedEndPoint, string network, double waitedSeconds, EndPoint remoteEndPoint);

    [LoggerMessage(9, LogLevel.Warning, "Connection {ConnectionId} from {RemoteEndPoint} refused: the accept queue ({AcceptQueueLength}) is full.", EventName = "AcceptQueueFull")]
    public static partial void AcceptQueueFull(ILogger logger, string connectionId, EndPoint remoteEndPoint, int acceptQueueLength);

    [LoggerMessage(10, LogLevel.Error, "The DTLS listener on {EndPoint} stopped receiving.", EventName = "ListenerFailed")]
    public static partial void ListenerFailed(ILogger logger, IPEndPoint endPoint, Exception exception);

    [LoggerMessage(11, LogLevel.Debug, "Connection {ConnectionId} from {RemoteEndPoint}: {Error}", EventName = "ConnectionError")]
    public static partial void ConnectionError(ILogger logger, string connectionId, EndPoint remoteEndPoint, string error, Exception? exception);

    [LoggerMessage(12, LogLevel.Information, "DTLS listener on {EndPoint} unbound; established connections go on.", EventName = "Unbound")]
    public static partial void Unbound(ILogger logger, IPEndPoint endPoint);

    [LoggerMessage(13, LogLevel.Debug, "Rotated the cookie key of the DTLS listener on {EndPoint}.", EventName = "CookieKeyRotated")]
    public static partial void CookieKeyRotated(ILogger logger, IPEndPoint endPoint);

    [LoggerMessage(14, LogLevel.Warning, "New peer {RemoteEndPoint} refused: {MaxConnections} peers have connections (MaxConnections); logged at most once a second.", EventName = "ConnectionLimitReached")]
    public static partial void ConnectionLimitReached(ILogger logger, EndPoint remoteEndPoint, int maxConnections);

    [LoggerMessage(16, LogLevel.Information, "Connection {ConnectionId} from {RemoteEndPoint}: the peer restarted (a verified ClientHello from the same address and port); a new handshake replaces the connection.", EventName = "PeerRestarted")]
    public static partial void PeerRestarted(ILogger logger, string connectionId, EndPoint remoteEndPoint);

    [LoggerMessage(60, LogLevel.Information, "Connection {ConnectionId}: the peer moved from {PreviousEndPoint} to {RemoteEndPoint} (Connection ID).", EventName = "PeerMoved")]
    public static partial void PeerMoved(ILogger logger, string connectionId, EndPoint previousEndPoint, EndPoint remoteEndPoint);

    [LoggerMessage(61, LogLevel.Warning, "Connection {ConnectionId} from {RemoteEndPoint}: an authenticated record came from {NewEndPoint}, but the connection could not move there.", EventName = "PeerNotMoved")]
    public static partial void PeerNotMoved(ILogger logger, string connectionId, EndPoint remoteEndPoint, EndPoint newEndPoint);

    [LoggerMessage(62, LogLevel.Information, "Connection {ConnectionId}: another connection's peer now has the address {RemoteEndPoint}; this connection waits for its own peer to show up at another (Connection ID) or for its idle timeout.", EventName = "PeerAddressTaken")]
    public static partial void PeerAddressTaken(ILogger logger, string connectionId, EndPoint remoteEndPoint);

    [LoggerMessage(15, LogLevel.Warning, "New peer {RemoteEndPoint} refused: its address started {MaxHandshakesPerSecond} handshakes this second (MaxHandshakesPerSecondPerAddress); logged at most once a second.", EventName = "HandshakeRateLimited")]
    public static partial void HandshakeRateLimited(ILogger logger, EndPoint remoteEndPoint, int maxHandshakesPerSecond);
}
