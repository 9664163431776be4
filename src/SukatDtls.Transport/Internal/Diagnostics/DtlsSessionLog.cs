using Microsoft.Extensions.Logging;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// Log messages of the session cache (event ids 50-59), in the category <c>SukatDtls.Transport.Sessions</c>. Event ids
/// are stable. Failures of a store come in floods when it is down: they are all counted, and logged at most once a
/// second with the number since the last line.
/// </summary>
internal static partial class DtlsSessionLog
{
    public const string Category = "SukatDtls.Transport.Sessions";

    [LoggerMessage(50, LogLevel.Information, "Sessions are kept in the distributed cache {CacheType}: keys '{KeyPrefix}<session id>', encrypted with key id {KeyId:x8}, {LifetimeSeconds:F0} s lifetime, {TimeoutMs:F0} ms per operation.", EventName = "SessionStoreStarted")]
    public static partial void StoreStarted(ILogger logger, string cacheType, string keyPrefix, uint keyId, double lifetimeSeconds, double timeoutMs);

    [LoggerMessage(51, LogLevel.Warning, "The session store did not complete a {Operation} within {TimeoutMs:F0} ms (a lookup that fails is a full handshake); {Failures} operations failed or were skipped since the last line; logged at most once a second.", EventName = "SessionStoreTimedOut")]
    public static partial void StoreTimedOut(ILogger logger, string operation, double timeoutMs, long failures);

    [LoggerMessage(52, LogLevel.Warning, "The session store failed a {Operation} (a lookup that fails is a full handshake; after 3 errors in a row the store is left alone for a second); {Failures} operations failed or were skipped since the last line; logged at most once a second.", EventName = "SessionStoreFailed")]
    public static partial void StoreFailed(ILogger logger, string operation, long failures, Exception exception);

    [LoggerMessage(53, LogLevel.Warning, "A stored session was rejected ({Reason}); its client gets a full handshake. {Rejected} rejected since the last line; logged at most once a second.", EventName = "StoredSessionRejected")]
    public static partial void SessionRejected(ILogger logger, string reason, long rejected);

    [LoggerMessage(54, LogLevel.Warning, "The session cache {CacheType} threw in {Operation}; the handshake goes on without it (a full handshake, or a session not kept); {Failures} since the last line; logged at most once a second.", EventName = "SessionCacheFailed")]
    public static partial void CacheFailed(ILogger logger, string cacheType, string operation, long failures, Exception exception);

    [LoggerMessage(55, LogLevel.Debug, "Connection {ConnectionId}: session {SessionId} removed from the cache after a fatal alert ({Alert}).", EventName = "SessionRemoved")]
    public static partial void SessionRemoved(ILogger logger, string connectionId, string sessionId, string alert);
}
