using Org.BouncyCastle.Tls;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// Puts a server's new session into the session cache after a full handshake — BouncyCastle's or our own
/// (<see cref="Ecdhe.EcdheServerHandshake"/>) — and reports the cache's failures.
/// </summary>
/// <remarks>
/// Runs on the handshake thread, off the CPU gate (a slow cache must not keep other handshakes from computing). The
/// cache never fails a handshake: a session that cannot be stored is not kept, counted and logged (at most once a second).
/// </remarks>
internal static class ServerSessionStore
{
    /// <summary>
    /// Looks a session up for resumption. Null when it is unknown, or when the cache failed (<paramref name="failed"/>;
    /// counted as an error and logged): a full handshake then follows. Counts no hit or miss: the caller decides whether
    /// the session is usable.
    /// </summary>
    public static DtlsSessionState? Lookup(ServerPeerSettings settings, IDtlsPeerEvents events, byte[] sessionId, out bool failed)
    {
        failed = false;
        if (settings.Sessions is not { } sessions || sessionId.Length == 0)
        {
            return null;
        }

        // The default in-memory cache answers at once: no wait, so no CPU pass to give back, no task and no timeout.
        if (sessions is MemoryDtlsSessionCache memory)
        {
            return memory.Get(sessionId);
        }

        try
        {
            return events.OffCpu(() =>
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(events.ConnectionClosed);
                timeout.CancelAfter(settings.Options.HandshakeTimeout);
                var lookup = sessions.GetAsync(sessionId, timeout.Token);
                return lookup.IsCompletedSuccessfully ? lookup.Result : lookup.AsTask().GetAwaiter().GetResult();
            });
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            OnFailed(settings, sessions, "GetAsync", ex);
            failed = true;
            return null;
        }
    }

    /// <summary>
    /// RFC 5246 §7.2.2: a session whose resumption ended with a fatal alert must not be resumed again; the cache is told
    /// to remove it (and the removal logged).
    /// </summary>
    public static void Forget(ServerPeerSettings settings, IDtlsPeerEvents events, byte[] sessionId, short alertDescription)
    {
        if (settings.Sessions is not { } sessions)
        {
            return;
        }

        try
        {
            WaitOffCpu(settings, events, cancel => sessions.RemoveAsync(sessionId, cancel));
            DtlsSessionLog.SessionRemoved(settings.SessionLogger, events.ConnectionId, Convert.ToHexString(sessionId), AlertDescription.GetText(alertDescription));
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            OnFailed(settings, sessions, "RemoveAsync", ex);
        }
    }

    /// <summary>
    /// Puts a new session into the cache. The in-memory cache takes it at once. Otherwise, on a handshake thread
    /// (<paramref name="wait"/>), the handshake waits for the cache, off the CPU gate and bounded by the handshake
    /// timeout. A handshake between datagrams, on a receive loop, must never wait: the distributed store takes it at once
    /// (it seals the session and writes in the background), and an application's cache is called on the thread pool,
    /// since its <c>SetAsync</c> may block before it returns; either goes on bounded by the handshake timeout. A failure
    /// is counted and logged, never the handshake's.
    /// </summary>
    public static void Store(ServerPeerSettings settings, IDtlsPeerEvents events, TlsSession session, bool wait = true)
    {
        if (settings.Sessions is not { } sessions || !session.IsResumable)
        {
            return;
        }

        var state = new DtlsSessionState(session, settings.TimeProvider.GetUtcNow());
        if (sessions is MemoryDtlsSessionCache memory)
        {
            // The default in-memory cache answers at once: no wait, so no CPU pass to give back and no timeout.
            memory.Set(session.SessionID, state);
        }
        else if (wait)
        {
            try
            {
                WaitOffCpu(settings, events, cancel => sessions.SetAsync(session.SessionID, state, cancel));
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                OnFailed(settings, sessions, "SetAsync", ex);
            }
        }
        else if (sessions is DistributedDtlsSessionCache)
        {
            StartStore(settings, sessions, session.SessionID, state);
        }
        else
        {
            ThreadPool.UnsafeQueueUserWorkItem(static work => StartStore(work.Settings, work.Sessions, work.SessionId, work.State),
                (Settings: settings, Sessions: sessions, SessionId: session.SessionID, State: state), preferLocal: false);
        }
    }

    /// <summary>Starts a store the handshake does not wait for; its end, if later, is awaited in the background.</summary>
    private static void StartStore(ServerPeerSettings settings, IDtlsSessionCache sessions, byte[] sessionId, DtlsSessionState state)
    {
        var timeout = new CancellationTokenSource(settings.Options.HandshakeTimeout);
        ValueTask pending;
        try
        {
            pending = sessions.SetAsync(sessionId, state, timeout.Token);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            timeout.Dispose();
            OnFailed(settings, sessions, "SetAsync", ex);
            return;
        }

        if (pending.IsCompletedSuccessfully)
        {
            timeout.Dispose();
            return;
        }

        _ = FinishInBackgroundAsync(settings, sessions, pending, timeout);
    }

    private static async Task FinishInBackgroundAsync(ServerPeerSettings settings, IDtlsSessionCache sessions, ValueTask pending, CancellationTokenSource timeout)
    {
        try
        {
            await pending.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            OnFailed(settings, sessions, "SetAsync", ex);
        }
        finally
        {
            timeout.Dispose();
        }
    }

    /// <summary>
    /// Waits for a cache operation on the handshake thread, off the CPU gate, bounded by the handshake timeout (the
    /// handshake thread is a dedicated one: waiting there blocks no pool thread).
    /// </summary>
    private static void WaitOffCpu(ServerPeerSettings settings, IDtlsPeerEvents events, Func<CancellationToken, ValueTask> operation) =>
        events.OffCpu(() =>
        {
            using var timeout = new CancellationTokenSource(settings.Options.HandshakeTimeout);
            var pending = operation(timeout.Token);
            if (!pending.IsCompletedSuccessfully)
            {
                pending.AsTask().GetAwaiter().GetResult();
            }

            return true;
        });

    /// <summary>Counts (lookups) and logs (an application's cache; ours logs its own, in detail) a failure of the cache.</summary>
    private static void OnFailed(ServerPeerSettings settings, IDtlsSessionCache sessions, string operation, Exception ex)
    {
        if (operation == "GetAsync")
        {
            settings.Metrics?.SessionLookup("error", ex is SessionStoreException store ? store.ErrorType : ex.GetType().Name);
        }

        if (ex is not SessionStoreException && settings.SessionCacheFailures.ShouldLog(out long failures))
        {
            DtlsSessionLog.CacheFailed(settings.SessionLogger, sessions.GetType().Name, operation, failures, ex);
        }
    }
}
