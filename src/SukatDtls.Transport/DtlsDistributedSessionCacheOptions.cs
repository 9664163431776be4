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
    /// Default 100 ms; at most 10 s.
    /// </summary>
    /// <remarks>
    /// The handshake thread waits for the lookup (a dedicated thread, not the thread pool), without holding a CPU pass.
    /// Writes (after a full handshake) and removals run in the background, nobody waits for them, and they are given up
    /// after 1 s (or this timeout, if longer). After 3 failures or timeouts in a row the store is left alone for a
    /// second: meanwhile resumptions are full handshakes at once, and then the store is tried again. Failures are counted
    /// (<c>dtls.session_cache.lookups</c> and <c>dtls.session_cache.writes</c>, tag <c>error.type</c>) and logged at most
    /// once a second (events 51, 52).
    /// </remarks>
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// What the store's keys start with, before the hexadecimal session ID, so that several applications can share one
    /// cache (the cache may add a prefix of its own, e.g. <c>RedisCacheOptions.InstanceName</c>). Default
    /// <c>dtls-session:</c>.
    /// </summary>
    public string KeyPrefix { get; set; } = "dtls-session:";

    /// <summary>The configuration sections the options were bound from, for messages that name the key.</summary>
    internal List<Microsoft.Extensions.Configuration.IConfiguration> ConfigurationSections { get; } = [];
}
