using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Logging;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// Sessions in the application's <see cref="IDistributedCache"/> (Redis, for one), shared by every node that uses the
/// same cache and <see cref="DtlsDistributedSessionCacheOptions.EncryptionKey"/>, and kept across restarts. Registered
/// by <c>AddDtlsDistributedSessionCache</c>.
/// </summary>
/// <remarks>
/// <para>
/// A session is stored as <see cref="SessionStateFormat"/> bytes sealed by <see cref="SessionProtector"/> under the key
/// <c>KeyPrefix + hex(session ID)</c>, expiring <see cref="DtlsTransportOptions.SessionLifetime"/> after the full
/// handshake that made it. A blob that does not open (another key, changed bytes, moved to another ID, a format we do
/// not know) is not resumed.
/// </para>
/// <para>
/// Every wait is bounded by <see cref="DtlsDistributedSessionCacheOptions.OperationTimeout"/>, whatever the cache does
/// with its cancellation token (StackExchange.Redis does not cancel a command once sent): a lookup that takes longer
/// fails, and the handshake, which waits for it on its own thread, goes on with a full handshake. Writes and removals
/// run in the background: the handshake does not wait for them (a client reconnects to another node seconds later at
/// the earliest); they are given up after <see cref="BackgroundTimeout"/> (or the operation timeout, if longer), and
/// <see cref="DisposeAsync"/> waits for those still under way. The connection to the store is made when the store is
/// created (a first lookup must not pay for it), after errors in a row the store is left alone for a second, and at most
/// <see cref="SessionStoreBackoff.MaxInFlight"/> operations are under way at once (<see cref="SessionStoreBackoff"/>). Lookups that fail throw <see cref="SessionStoreException"/>
/// (logged here, at most once a second), so that the handshake counts them as errors rather than misses.
/// </para>
/// </remarks>
internal sealed class DistributedDtlsSessionCache : IDtlsSessionCache, IAsyncDisposable
{
    /// <summary>
    /// How long a write or removal may take before it is given up (and counted as failed): nobody waits for them, so this
    /// only bounds what is under way (and <see cref="DisposeAsync"/>); longer than a lookup's, so that a store that is
    /// merely slow for a moment still gets the session.
    /// </summary>
    public static readonly TimeSpan BackgroundTimeout = TimeSpan.FromSeconds(1);

    /// <summary>Makes secrets and certificates from stored bytes; BouncyCastle adopts them into its own crypto on resumption.</summary>
    private static readonly BcTlsCrypto s_crypto = new(new SecureRandom());

    private readonly IDistributedCache _cache;
    private readonly SessionProtector _protector;
    private readonly TimeSpan _timeout;
    private readonly TimeSpan _backgroundTimeout;
    private readonly TimeSpan _lifetime;
    private readonly string _keyPrefix;
    private readonly TimeProvider _clock;
    private readonly SessionStoreBackoff _backoff = new(TimeProvider.System);
    private readonly ILogger _logger;
    private readonly LogThrottle _failureLog;
    private readonly LogThrottle _rejectionLog;
    private readonly DtlsSessionStoreMetrics? _metrics;
    private readonly ConcurrentDictionary<long, Task> _background = new();
    private long _backgroundIds;
    private int _disposed;

    /// <param name="cache">The application's distributed cache.</param>
    /// <param name="options">Validated options (the key parses).</param>
    /// <param name="lifetime">How long a session may be resumed after it was made.</param>
    /// <param name="clock">The clock of session ages (the timeouts are real time).</param>
    /// <param name="loggerFactory">Where failures are logged.</param>
    /// <param name="meterFactory">Where writes are counted; null for none.</param>
    public DistributedDtlsSessionCache(IDistributedCache cache, DtlsDistributedSessionCacheOptions options, TimeSpan lifetime, TimeProvider clock,
        ILoggerFactory loggerFactory, IMeterFactory? meterFactory)
    {
        _cache = cache;
        if (!DtlsTransportOptionsRules.TryParseHexKey(options.EncryptionKey, out byte[]? secret))
        {
            throw new InvalidOperationException($"{nameof(DtlsDistributedSessionCacheOptions)}.{nameof(DtlsDistributedSessionCacheOptions.EncryptionKey)} is not set or not hexadecimal.");
        }

        _protector = new SessionProtector(secret);
        CryptographicOperations.ZeroMemory(secret);
        _timeout = options.OperationTimeout;
        _backgroundTimeout = options.OperationTimeout > BackgroundTimeout ? options.OperationTimeout : BackgroundTimeout;
        _lifetime = lifetime;
        _keyPrefix = options.KeyPrefix;
        _clock = clock;
        _logger = loggerFactory.CreateLogger(DtlsSessionLog.Category);
        _failureLog = new LogThrottle(TimeProvider.System);
        _rejectionLog = new LogThrottle(TimeProvider.System);
        _metrics = meterFactory is null ? null : new DtlsSessionStoreMetrics(meterFactory);
        DtlsSessionLog.StoreStarted(_logger, cache.GetType().Name, _keyPrefix, _protector.KeyId, lifetime.TotalSeconds, _timeout.TotalMilliseconds);

        // Connect now (a lookup of a key that never exists), and run the sealing and the format once, so that the first
        // clients after a start, a restart storm's, wait neither for the connection nor for the JIT.
        RunInBackground("connect", token => _cache.GetAsync(_keyPrefix + "connect", token));
        WarmUp();
    }

    private void WarmUp()
    {
        byte[] sessionId = new byte[32];
        var session = TlsUtilities.ImportSession(sessionId, new SessionParameters.Builder()
            .SetCipherSuite(CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)
            .SetNegotiatedVersion(ProtocolVersion.DTLSv12)
            .SetMasterSecret(s_crypto.CreateSecret(new byte[48]))
            .Build());
        byte[] plaintext = SessionStateFormat.Write(new DtlsSessionState(session, _clock.GetUtcNow()), s_crypto)!;
        _ = Open(_protector.Seal(plaintext, sessionId), sessionId);
    }

    /// <summary>The key a session is stored under (without the cache's own prefix).</summary>
    public string KeyOf(ReadOnlySpan<byte> sessionId) => _keyPrefix + Convert.ToHexString(sessionId);

    public async ValueTask<DtlsSessionState?> GetAsync(ReadOnlyMemory<byte> sessionId, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return null;
        }

        var lookup = Start("lookup", token => _cache.GetAsync(KeyOf(sessionId.Span), token));
        byte[]? blob;
        try
        {
            blob = await lookup.WaitAsync(_timeout, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            throw new SessionStoreException(Failed("lookup", ex, _timeout), "The session store's lookup failed.", ex);
        }

        _backoff.Succeeded();
        if (blob is null)
        {
            return null;
        }

        var state = Open(blob, sessionId.Span);
        if (state is null)
        {
            throw new SessionStoreException("undecryptable", "A stored session does not decrypt.");
        }

        return _clock.GetUtcNow() - state.Created >= _lifetime ? null : state;
    }

    public ValueTask SetAsync(ReadOnlyMemory<byte> sessionId, DtlsSessionState session, CancellationToken cancellationToken)
    {
        var remaining = session.Created + _lifetime - _clock.GetUtcNow();
        if (Volatile.Read(ref _disposed) != 0 || remaining <= TimeSpan.Zero)
        {
            return ValueTask.CompletedTask;
        }

        byte[]? plaintext = SessionStateFormat.Write(session, s_crypto);
        if (plaintext is null)
        {
            return ValueTask.CompletedTask;
        }

        byte[] blob;
        try
        {
            blob = _protector.Seal(plaintext, sessionId.Span);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
        }

        // Relative to now, not an absolute time: the cache computes the expiry with its own clock.
        var entry = new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = remaining };
        string key = KeyOf(sessionId.Span);
        RunInBackground("set", token => _cache.SetAsync(key, blob, entry, token));
        return ValueTask.CompletedTask;
    }

    public ValueTask RemoveAsync(ReadOnlyMemory<byte> sessionId, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _disposed) == 0)
        {
            string key = KeyOf(sessionId.Span);
            RunInBackground("remove", token => _cache.RemoveAsync(key, token));
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>Waits for the writes and removals still under way (each bounded by the operation timeout).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await Task.WhenAll(_background.Values).ConfigureAwait(false);
    }

    /// <summary>
    /// Starts an operation on the cache, unless the store is being left alone; the operation's token is cancelled at the
    /// timeout (for caches that honour it), and its place in the back-off's count is kept until the cache finishes it,
    /// however long after the caller stopped waiting.
    /// </summary>
    private Task<T> Start<T>(string operation, Func<CancellationToken, Task<T>> start)
    {
        if (!_backoff.TryBegin())
        {
            _failureLog.Count();
            return Task.FromException<T>(new SessionStoreException("unavailable", $"The session store is left alone for a second after a failure; {operation} skipped."));
        }

        var timeout = new CancellationTokenSource(operation == "lookup" ? _timeout : _backgroundTimeout);
        Task<T> task;
        try
        {
            task = start(timeout.Token);
        }
        catch (Exception ex)
        {
            timeout.Dispose();
            _backoff.End();
            return Task.FromException<T>(ex);
        }

        task.ContinueWith(static (finished, state) =>
        {
            _ = finished.Exception; // observed: an operation given up at the timeout may still fail later
            var (backoff, timeout) = ((SessionStoreBackoff, CancellationTokenSource))state!;
            timeout.Dispose();
            backoff.End();
        }, (_backoff, timeout), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return task;
    }

    private void RunInBackground(string operation, Func<CancellationToken, Task> start)
    {
        var operationTask = Start(operation, async token =>
        {
            await start(token).ConfigureAwait(false);
            return true;
        });
        long id = Interlocked.Increment(ref _backgroundIds);
        var bounded = CompleteInBackgroundAsync(operation, operationTask);
        _background[id] = bounded;
        bounded.ContinueWith(static (_, state) =>
        {
            var (background, id) = ((ConcurrentDictionary<long, Task>, long))state!;
            background.TryRemove(id, out Task? _);
        }, (_background, id), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private async Task CompleteInBackgroundAsync(string operation, Task operationTask)
    {
        try
        {
            await operationTask.WaitAsync(_backgroundTimeout).ConfigureAwait(false);
            _backoff.Succeeded();
            Count(operation, null);
        }
        catch (Exception ex)
        {
            Count(operation, Failed(operation, ex, _backgroundTimeout));
        }
    }

    /// <summary>Writes and removals are counted; the connection made at start is not.</summary>
    private void Count(string operation, string? errorType)
    {
        if (operation != "connect")
        {
            _metrics?.Written(operation, errorType);
        }
    }

    /// <summary>Counts and logs (throttled) a failed operation; returns its <c>error.type</c>.</summary>
    private string Failed(string operation, Exception ex, TimeSpan timeout)
    {
        switch (ex)
        {
            case SessionStoreException skipped:
                return skipped.ErrorType; // counted when it was skipped
            case ObjectDisposedException:
                return "disposed"; // the host is shutting down: a handshake it aborted may still try to remove its session
            case TimeoutException or OperationCanceledException:
                // Not a reason to leave the store alone: a server busy with a storm of handshakes makes lookups late
                // too, and turning its resumptions into full handshakes would make it busier still. A store that hangs
                // is bounded by the timeout and by the operations allowed under way at once.
                if (_failureLog.ShouldLog(out long timedOut))
                {
                    DtlsSessionLog.StoreTimedOut(_logger, operation, timeout.TotalMilliseconds, timedOut);
                }

                return "timeout";
            default:
                _backoff.Failed();
                if (_failureLog.ShouldLog(out long failed))
                {
                    DtlsSessionLog.StoreFailed(_logger, operation, failed, ex);
                }

                return ex.GetType().Name;
        }
    }

    /// <summary>The session a stored blob holds, or null (logged, throttled) when it does not open.</summary>
    private DtlsSessionState? Open(byte[] blob, ReadOnlySpan<byte> sessionId)
    {
        var result = _protector.TryOpen(blob, sessionId, out byte[]? plaintext, out uint keyId);
        DtlsSessionState? state = null;
        if (plaintext is not null)
        {
            try
            {
                state = SessionStateFormat.Read(plaintext, sessionId.ToArray(), s_crypto);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(plaintext);
            }
        }

        if (state is null && _rejectionLog.ShouldLog(out long rejected))
        {
            string reason = result switch
            {
                SessionProtector.OpenResult.OtherKey => $"encrypted under another key: key id {keyId:x8}, ours {_protector.KeyId:x8}; do all nodes have the same EncryptionKey?",
                SessionProtector.OpenResult.Tampered => "it does not authenticate under our key: changed, or moved from another session ID",
                SessionProtector.OpenResult.Malformed => $"not a sealed session ({blob.Length} bytes)",
                _ => "it decrypts, but is not a session of a format this version reads",
            };
            DtlsSessionLog.SessionRejected(_logger, reason, rejected);
        }

        return state;
    }
}
