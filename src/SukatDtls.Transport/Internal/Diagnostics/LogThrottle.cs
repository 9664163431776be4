namespace SukatDtls.Transport.Internal;

/// <summary>
/// One log line a second at most for a kind of event that comes in floods (a store that is down fails every
/// operation), with the number of events since the last line, so that nothing goes uncounted in the log either.
/// </summary>
internal sealed class LogThrottle(TimeProvider timeProvider)
{
    private static readonly TimeSpan s_period = TimeSpan.FromSeconds(1);
    private long _lastLogged;
    private long _events;

    /// <summary>Counts an event that has no line of its own (it shows in the next line's number).</summary>
    public void Count() => Interlocked.Increment(ref _events);

    /// <summary>
    /// Counts an event; true when it is the one to log (none was logged in the last second), with
    /// <paramref name="events"/> the events since the last line, this one included.
    /// </summary>
    public bool ShouldLog(out long events)
    {
        Interlocked.Increment(ref _events);
        long now = timeProvider.GetTimestamp();
        long last = Interlocked.Read(ref _lastLogged);
        if ((last == 0 || timeProvider.GetElapsedTime(last, now) >= s_period)
            && Interlocked.CompareExchange(ref _lastLogged, now, last) == last)
        {
            events = Interlocked.Exchange(ref _events, 0);
            return true;
        }

        events = 0;
        return false;
    }
}
