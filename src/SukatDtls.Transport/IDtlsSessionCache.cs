namespace SukatDtls.Transport;

/// <summary>
/// Where the server keeps DTLS sessions for resumption by session ID (abbreviated handshakes). The default is a
/// bounded in-memory cache (<see cref="DtlsTransportOptions.MaxCachedSessions"/>, <see cref="DtlsTransportOptions.SessionLifetime"/>);
/// implement this to change where and how long sessions are kept.
/// </summary>
/// <remarks>
/// A session holds its master secret: keep it as carefully as a private key. Calls come concurrently. Lookups come
/// from handshake threads, and the handshake waits for them (on its own thread, not holding a CPU pass), so bound them.
/// A new session from the transport's own handshake, which runs between datagrams, is stored without the handshake
/// waiting: <see cref="SetAsync"/> is then called on a thread-pool thread, bounded by the handshake timeout. A cache that
/// throws never fails a handshake: a lookup that throws is a full handshake, a session that cannot be stored is not
/// kept (both logged, event 54). For sessions shared by several servers and kept across restarts, register the
/// distributed store (<c>services.AddDtlsDistributedSessionCache(...)</c>) instead of writing one.
/// </remarks>
public interface IDtlsSessionCache
{
    /// <summary>Stores a new session under its ID.</summary>
    ValueTask SetAsync(ReadOnlyMemory<byte> sessionId, DtlsSessionState session, CancellationToken cancellationToken);

    /// <summary>The session stored under <paramref name="sessionId"/>, or null when unknown or expired.</summary>
    ValueTask<DtlsSessionState?> GetAsync(ReadOnlyMemory<byte> sessionId, CancellationToken cancellationToken);

    /// <summary>Forgets a session.</summary>
    ValueTask RemoveAsync(ReadOnlyMemory<byte> sessionId, CancellationToken cancellationToken);
}
