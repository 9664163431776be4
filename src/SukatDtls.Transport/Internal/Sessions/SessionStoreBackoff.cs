namespace SukatDtls.Transport.Internal;

/// <summary>
/// Keeps a failing store from being hammered and from piling up work: after <see cref="FailuresBeforeBackoff"/> errors in
/// a row (the cache threw, with no success between them; timeouts do not count, see
/// <see cref="DistributedDtlsSessionCache"/>) the store is left alone for a second, and at most <see cref="MaxInFlight"/> operations may be under way at once (an operation
/// given up after its timeout may go on inside the cache client, which must not grow without bound while the store
/// hangs). Either way the caller goes on without the store: a full handshake, a session not kept.
/// </summary>
internal sealed class SessionStoreBackoff(TimeProvider timeProvider)
{
    /// <summary>How long the store is left alone after a failure.</summary>
    public static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(1);

    /// <summary>The most operations under way at once (a storm of resumptions is far fewer per millisecond of store latency).</summary>
    public const int MaxInFlight = 256;

    /// <summary>
    /// Errors in a row before the store is left alone: one failed operation must not turn a second of resumptions into
    /// full handshakes; a store that refuses every operation fails them all.
    /// </summary>
    public const int FailuresBeforeBackoff = 3;

    private long _retryAt;
    private int _inFlight;
    private int _failuresInARow;

    /// <summary>Whether an operation may go to the store now; when true, <see cref="End"/> must follow.</summary>
    public bool TryBegin()
    {
        long retryAt = Interlocked.Read(ref _retryAt);
        if (retryAt != 0 && timeProvider.GetTimestamp() < retryAt)
        {
            return false;
        }

        if (Interlocked.Increment(ref _inFlight) > MaxInFlight)
        {
            Interlocked.Decrement(ref _inFlight);
            return false;
        }

        return true;
    }

    /// <summary>The operation is over (however it ended; an abandoned one when the cache client finished it).</summary>
    public void End() => Interlocked.Decrement(ref _inFlight);

    /// <summary>The store answered.</summary>
    public void Succeeded() => Volatile.Write(ref _failuresInARow, 0);

    /// <summary>
    /// The store failed: after <see cref="FailuresBeforeBackoff"/> in a row, leave it alone for
    /// <see cref="RetryAfter"/>.
    /// </summary>
    public void Failed()
    {
        if (Interlocked.Increment(ref _failuresInARow) >= FailuresBeforeBackoff)
        {
            Interlocked.Exchange(ref _retryAt, timeProvider.GetTimestamp() + (long)(RetryAfter.TotalSeconds * timeProvider.TimestampFrequency));
        }
    }
}
