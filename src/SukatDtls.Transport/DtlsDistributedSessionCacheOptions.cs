namespace SukatDtls.Transport;

/// <summary>
/// The distributed session store (<c>services.AddDtlsDistributedSessionCache(...)</c>): sessions kept in the
/// application's <c>IDistributedCache</c> (Redis through <c>AddStackExchangeRedisCache</c>, for example), so that a
/// client resumes its session on any node that shares the store, and after a restart.
/// </summary>
/// <remarks>
/// Each session is written when its full handshake completes, encrypted (AES-256-GCM), and expires
/// <see cref="DtlsTransportOptions.SessionLifetime"/> after it was made. See docs/scale-out.md.
/// </remarks>
public sealed class DtlsDistributedSessionCacheOptions
{
    /// <summary>
    /// The secret that stored sessions are encrypted with (hexadecimal, at least 16 bytes, e.g. from
    /// <c>openssl rand -hex 32</c>). Required. Every node that shares the store needs the same one; a session encrypted
    /// under another key is not resumed (a full handshake instead; event 53). Keep it in an environment variable or a
    /// secret store: with it and a copy of the store, recorded traffic of those sessions can be decrypted.
    /// </summary>
    /// <remarks>
    /// Changing it costs each client one full handshake (sessions encrypted under the old key are not read). Sessions
    /// live <see cref="DtlsTransportOptions.SessionLifetime"/> at most, so no old key needs to be kept.
    /// </remarks>
    public string? EncryptionKey { get; set; }

    /// <summary>
    /// How long a lookup of the store may take: a resumption whose lookup takes longer becomes a full handshake.
    /// Default 500 ms; at most 10 s.
    /// </summary>
    /// <remarks>
    /// The handshake thread waits for the lookup (a dedicated thread, not the thread pool), without holding a CPU pass.
    /// The default is far above a Redis round trip (about 0.1-0.2 ms on loopback) because in a burst of resumptions (a
    /// restart storm) a lookup waits mostly for the node itself: StackExchange.Redis completes commands on the thread
    /// pool, and with the pool's default minimum lookups were seen to take over 500 ms on 2 cores; raise the pool's
    /// minimum (<c>ThreadPool.SetMinThreads</c>) as well (docs/benchmarks.md, "Restart storm"). It stays below the clients'
    /// first retransmission (1 s), so a Redis that hangs delays a resumption without making the client resend.
    /// Writes (after a full handshake) and removals run in the background, nobody waits for them, and they are given up
    /// after 1 s (or this timeout, if longer). After 3 errors in a row (the cache threw) the store is left alone for a
    /// second: meanwhile resumptions are full handshakes at once, and then the store is tried again; timeouts do not
    /// count there (a server busy with a storm of handshakes makes lookups late too), but at most 256 operations may be
    /// under way at once, so a store that hangs holds up no more than that. Failures are counted
    /// (<c>dtls.session_cache.lookups</c> and <c>dtls.session_cache.writes</c>, tag <c>error.type</c>) and logged at most
    /// once a second (events 51, 52).
    /// </remarks>
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// What the store's keys start with, before the hexadecimal session ID, so that several applications can share one
    /// cache (the cache may add a prefix of its own, e.g. <c>RedisCacheOptions.InstanceName</c>). Default
    /// <c>dtls-session:</c>.
    /// </summary>
    public string KeyPrefix { get; set; } = "dtls-session:";

    /// <summary>The configuration sections the options were bound from, for messages that name the key.</summary>
    internal List<Microsoft.Extensions.Configuration.IConfiguration> ConfigurationSections { get; } = [];
}
