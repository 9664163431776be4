namespace SukatDtls.Transport.Internal;

/// <summary>
/// Refusals come in floods under load or attack: they are all counted, but logged at most once a second (one
/// throttle per listener, shared by every kind of refusal).
/// </summary>
internal sealed class RefusalLogThrottle(TimeProvider timeProvider)
{
    private static readonly TimeSpan s_period = TimeSpan.FromSeconds(1);
    private long _lastLogged;

    /// <summary>Whether this refusal is the one to log (none was logged in the last second).</summary>
    public bool ShouldLog()
    {
        long now = timeProvider.GetTimestamp();
        long last = Interlocked.Read(ref _lastLogged);
        return (last == 0 || timeProvider.GetElapsedTime(last, now) >= s_period)
            && Interlocked.CompareExchange(ref _lastLogged, now, last) == last;
    }
}
