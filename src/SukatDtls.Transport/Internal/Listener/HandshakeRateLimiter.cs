using System.Net;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// At most N handshakes per source IP address per second (fixed one-second windows). Consulted only for peers whose
/// cookie checked out, so a spoofed source cannot spend another address's budget. Tracks a bounded number of
/// addresses: when full, windows that ended are forgotten first, and if none has, the address is let through rather
/// than making the table grow (the global handshake caps still apply).
/// </summary>
/// <remarks>Called from the listener's dispatch only (one caller at a time).</remarks>
internal sealed class HandshakeRateLimiter(int perSecond, TimeProvider timeProvider, int maxTrackedAddresses = 65_536)
{
    private readonly Dictionary<IPAddress, Window> _windows = [];

    public int TrackedAddresses => _windows.Count;

    /// <summary>Counts a handshake from <paramref name="address"/>; false when its budget for this second is spent.</summary>
    public bool TryAcquire(IPAddress address)
    {
        long now = timeProvider.GetTimestamp();
        if (_windows.TryGetValue(address, out var window) && !HasEnded(window, now))
        {
            if (window.Count >= perSecond)
            {
                return false;
            }

            _windows[address] = window with { Count = window.Count + 1 };
            return true;
        }

        if (_windows.Count >= maxTrackedAddresses && !_windows.ContainsKey(address))
        {
            ForgetEndedWindows(now);
            if (_windows.Count >= maxTrackedAddresses)
            {
                return true;
            }
        }

        _windows[address] = new Window(now, 1);
        return true;
    }

    private bool HasEnded(Window window, long now) => timeProvider.GetElapsedTime(window.Start, now) >= TimeSpan.FromSeconds(1);

    private void ForgetEndedWindows(long now)
    {
        foreach (var (address, window) in _windows)
        {
            if (HasEnded(window, now))
            {
                _windows.Remove(address);
            }
        }
    }

    private readonly record struct Window(long Start, int Count);
}
