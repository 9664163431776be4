using System.Diagnostics.Metrics;

namespace SukatDtls.Samples.EchoServer;

/// <summary>
/// Live figures of the DTLS transport for the status page, gathered from its <c>SukatDtls.Transport</c> meter with a
/// <see cref="MeterListener"/> (the same figures <c>dotnet-counters</c> shows). Only the meters of this host's
/// <see cref="IMeterFactory"/> count, so several hosts in one process do not mix.
/// </summary>
public sealed class DtlsStatus : IDisposable
{
    private const string MeterName = "SukatDtls.Transport";

    private readonly MeterListener _listener = new();
    private readonly IMeterFactory _meterFactory;
    private readonly DateTimeOffset _started;
    private long _activeConnections;
    private long _handshakesCompleted;
    private long _handshakesResumed;
    private long _handshakesFailed;
    private long _refusedPeers;
    private long _cookiesSent;
    private long _droppedDatagrams;
    private long _receivedBytes;
    private long _sentBytes;
    private long _receivedRecords;
    private long _sentRecords;
    private long _sessionLookupsHit;
    private long _sessionLookupsMiss;
    private long _sessionLookupsError;

    /// <param name="meterFactory">The host's meters, whose <c>SukatDtls.Transport</c> instruments are read.</param>
    /// <param name="timeProvider">The clock of the uptime.</param>
    /// <param name="sessionStore">Where sessions are kept, for the page (memory unless Program.cs registered Redis).</param>
    public DtlsStatus(IMeterFactory meterFactory, TimeProvider timeProvider, EchoSessionStore? sessionStore = null)
    {
        _meterFactory = meterFactory;
        SessionStore = sessionStore?.Description ?? EchoSessionStore.Memory.Description;
        _started = timeProvider.GetUtcNow();
        Clock = timeProvider;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == MeterName && ReferenceEquals(instrument.Meter.Scope, _meterFactory))
            {
                listener.EnableMeasurementEvents(instrument, this);
            }
        };
        _listener.SetMeasurementEventCallback<long>(static (instrument, value, tags, state) => ((DtlsStatus)state!).OnLong(instrument.Name, value, tags));
        _listener.SetMeasurementEventCallback<double>(static (instrument, _, tags, state) => ((DtlsStatus)state!).OnHandshake(instrument.Name, tags));
        _listener.Start();
    }

    private TimeProvider Clock { get; }

    /// <summary>Where the server keeps sessions: <c>memory</c>, or <c>redis HOST:PORT</c>.</summary>
    public string SessionStore { get; }

    /// <summary>A consistent-enough copy of the figures (each read atomically), with the process's runtime figures.</summary>
    public DtlsStatusSnapshot Snapshot() => new(
        ActiveConnections: Interlocked.Read(ref _activeConnections),
        HandshakesCompleted: Interlocked.Read(ref _handshakesCompleted),
        HandshakesResumed: Interlocked.Read(ref _handshakesResumed),
        HandshakesFailed: Interlocked.Read(ref _handshakesFailed),
        RefusedPeers: Interlocked.Read(ref _refusedPeers),
        CookiesSent: Interlocked.Read(ref _cookiesSent),
        DroppedDatagrams: Interlocked.Read(ref _droppedDatagrams),
        ReceivedBytes: Interlocked.Read(ref _receivedBytes),
        SentBytes: Interlocked.Read(ref _sentBytes),
        ReceivedRecords: Interlocked.Read(ref _receivedRecords),
        SentRecords: Interlocked.Read(ref _sentRecords),
        SessionStore: SessionStore,
        SessionLookupsHit: Interlocked.Read(ref _sessionLookupsHit),
        SessionLookupsMiss: Interlocked.Read(ref _sessionLookupsMiss),
        SessionLookupsError: Interlocked.Read(ref _sessionLookupsError),
        UptimeSeconds: Math.Round((Clock.GetUtcNow() - _started).TotalSeconds, 1),
        GcAllocatedBytes: GC.GetTotalAllocatedBytes(precise: false),
        GcGen0Collections: GC.CollectionCount(0),
        GcGen1Collections: GC.CollectionCount(1),
        GcGen2Collections: GC.CollectionCount(2),
        GcHeapBytes: GC.GetTotalMemory(forceFullCollection: false),
        GcCommittedBytes: GC.GetGCMemoryInfo().TotalCommittedBytes,
        GcPauseMilliseconds: Math.Round(GC.GetTotalPauseDuration().TotalMilliseconds, 3),
        JitCompiledMethods: System.Runtime.JitInfo.GetCompiledMethodCount(currentThread: false),
        JitCompilationMilliseconds: Math.Round(System.Runtime.JitInfo.GetCompilationTime(currentThread: false).TotalMilliseconds, 3),
        ThreadPoolThreads: ThreadPool.ThreadCount,
        ThreadPoolCompletedWorkItems: ThreadPool.CompletedWorkItemCount);

    private void OnLong(string instrument, long value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        switch (instrument)
        {
            case "dtls.session_cache.lookups":
                foreach (var tag in tags)
                {
                    if (tag.Key == "result")
                    {
                        Interlocked.Add(ref tag.Value as string == "hit" ? ref _sessionLookupsHit : ref tag.Value as string == "miss" ? ref _sessionLookupsMiss : ref _sessionLookupsError, value);
                    }
                }

                break;
            case "dtls.active_connections": Interlocked.Add(ref _activeConnections, value); break;
            case "dtls.refused_peers": Interlocked.Add(ref _refusedPeers, value); break;
            case "dtls.cookies_sent": Interlocked.Add(ref _cookiesSent, value); break;
            case "dtls.dropped_datagrams": Interlocked.Add(ref _droppedDatagrams, value); break;
            case "dtls.received_bytes": Interlocked.Add(ref _receivedBytes, value); break;
            case "dtls.sent_bytes": Interlocked.Add(ref _sentBytes, value); break;
            case "dtls.received_records": Interlocked.Add(ref _receivedRecords, value); break;
            case "dtls.sent_records": Interlocked.Add(ref _sentRecords, value); break;
        }
    }

    private void OnHandshake(string instrument, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (instrument != "dtls.handshake.duration")
        {
            return;
        }

        bool failed = false, resumed = false;
        foreach (var tag in tags)
        {
            failed |= tag.Key == "error.type";
            resumed |= tag.Key == "dtls.resumed" && tag.Value is true;
        }

        Interlocked.Increment(ref failed ? ref _handshakesFailed : ref _handshakesCompleted);
        if (resumed)
        {
            Interlocked.Increment(ref _handshakesResumed);
        }
    }

    public void Dispose() => _listener.Dispose();
}

/// <summary>
/// The status page's figures: the transport's (from its meter), then the process's runtime figures, flattened into the
/// same JSON object so that one <c>GET /status</c> before and one after a run give both. The runtime figures are
/// counters since the process started (subtract two pages) or current values.
/// </summary>
/// <param name="SessionStore">Where sessions are kept: <c>memory</c>, or <c>redis HOST:PORT</c> (the connection string <c>Redis</c>).</param>
/// <param name="SessionLookupsHit">Session IDs offered by clients and found in the store (<c>dtls.session_cache.lookups</c>, result hit).</param>
/// <param name="SessionLookupsMiss">… not found (unknown, expired): full handshakes.</param>
/// <param name="SessionLookupsError">… the store failed, timed out or held a session that does not decrypt: full handshakes.</param>
/// <param name="GcAllocatedBytes">
/// Bytes the GC has allocated since start: <c>GC.GetTotalAllocatedBytes(precise: false)</c>. <c>precise: true</c>
/// suspends every managed thread (the stop-the-world a GC starts with) to add the unused part of each thread's
/// allocation context; the approximate figure misses only those parts (kilobytes per thread), noise against the
/// megabytes a measured run allocates, and reading the status page must not pause the server it watches.
/// </param>
/// <param name="GcGen0Collections">Collections since start, all of them (a gen 1 or gen 2 collection collects gen 0 too).</param>
/// <param name="GcGen1Collections">Gen 1 and gen 2 collections since start.</param>
/// <param name="GcGen2Collections">Gen 2 (full) collections since start.</param>
/// <param name="GcHeapBytes">Bytes thought to be allocated on the managed heap now (<c>GC.GetTotalMemory(false)</c>, no collection).</param>
/// <param name="GcCommittedBytes">
/// Memory the GC has committed now, live objects and free space it keeps (<c>GC.GetGCMemoryInfo().TotalCommittedBytes</c>,
/// as of the last collection): the managed share of the process's RSS; the rest is native (sockets' and the platform
/// crypto's state, thread stacks, the runtime and code).
/// </param>
/// <param name="GcPauseMilliseconds">Time managed threads were paused for GC since start (<c>GC.GetTotalPauseDuration()</c>).</param>
/// <param name="JitCompiledMethods">
/// Methods the JIT compiled since start, every tier counted (a method's tier-0 and tier-1 code are two):
/// <c>JitInfo.GetCompiledMethodCount()</c>. Still rising under steady load means the tiered JIT is still at work.
/// </param>
/// <param name="JitCompilationMilliseconds">Time spent in the JIT since start, all threads (<c>JitInfo.GetCompilationTime()</c>).</param>
/// <param name="ThreadPoolThreads">Thread-pool threads now (<c>ThreadPool.ThreadCount</c>).</param>
/// <param name="ThreadPoolCompletedWorkItems">
/// Work items the thread pool ran since start (<c>ThreadPool.CompletedWorkItemCount</c>): each is a hand-off to another
/// thread, often a wake-up; per handshake or per record, a measure of hops.
/// </param>
public sealed record DtlsStatusSnapshot(
    long ActiveConnections,
    long HandshakesCompleted,
    long HandshakesResumed,
    long HandshakesFailed,
    long RefusedPeers,
    long CookiesSent,
    long DroppedDatagrams,
    long ReceivedBytes,
    long SentBytes,
    long ReceivedRecords,
    long SentRecords,
    string SessionStore,
    long SessionLookupsHit,
    long SessionLookupsMiss,
    long SessionLookupsError,
    double UptimeSeconds,
    long GcAllocatedBytes,
    int GcGen0Collections,
    int GcGen1Collections,
    int GcGen2Collections,
    long GcHeapBytes,
    long GcCommittedBytes,
    double GcPauseMilliseconds,
    long JitCompiledMethods,
    double JitCompilationMilliseconds,
    int ThreadPoolThreads,
    long ThreadPoolCompletedWorkItems);
