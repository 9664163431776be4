namespace SukatDtls.Transport.Internal;

/// <summary>
/// Bounds how many handshakes compute at once (about one per core), whatever how many are in progress. A handshake
/// holds a pass while BouncyCastle computes (key exchange, signatures, Finished) and gives it back whenever it waits —
/// for the peer's next flight, or for the application's key store, session cache or certificate validation — so a
/// peer on a slow network, or a silent one, costs a parked thread but never a pass.
/// </summary>
/// <remarks>
/// <para>
/// Without it, hundreds of handshakes that all have work on a 2-core machine slow each other down together (the
/// scheduler shares the cores fairly), so every one of them takes longer than its peer waits and retransmits. With
/// it, they are served in order and each finishes in about its own CPU time.
/// </para>
/// <para>
/// Passes go first to handshakes that continue after their peer answered (they are nearest to done and hold the most
/// memory), then to new ones, each in arrival order. A pass is handed to the next waiter directly, so it is never free
/// while someone waits.
/// </para>
/// </remarks>
internal sealed class HandshakeCpuGate
{
    private readonly object _lock = new();
    private readonly Queue<Waiter> _continuing = new();
    private readonly Queue<Waiter> _new = new();
    private int _free;

    public HandshakeCpuGate(int passes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(passes, 1);
        Passes = passes;
        _free = passes;
    }

    /// <summary>How many handshakes may compute at once.</summary>
    public int Passes { get; }

    /// <summary>Handshakes waiting for a pass now.</summary>
    public int Waiting
    {
        get
        {
            lock (_lock)
            {
                return _continuing.Count + _new.Count;
            }
        }
    }

    /// <summary>Blocks until the caller holds a pass.</summary>
    /// <param name="waiter">The caller's own waiter (one per handshake, reused).</param>
    /// <param name="continuing">The handshake continues after its peer answered (served before new ones).</param>
    public void Enter(Waiter waiter, bool continuing)
    {
        lock (_lock)
        {
            if (_free > 0 && _continuing.Count == 0 && _new.Count == 0)
            {
                _free--;
                return;
            }

            waiter.Granted = false;
            (continuing ? _continuing : _new).Enqueue(waiter);
        }

        lock (waiter)
        {
            while (!waiter.Granted)
            {
                Monitor.Wait(waiter);
            }
        }
    }

    /// <summary>
    /// Takes a pass only if one is free and nobody waits for one (a receive loop, which must never block, computes a
    /// handshake's first flight itself only then; else a handshake thread waits its turn).
    /// </summary>
    public bool TryEnter()
    {
        lock (_lock)
        {
            if (_free > 0 && _continuing.Count == 0 && _new.Count == 0)
            {
                _free--;
                return true;
            }

            return false;
        }
    }

    /// <summary>Gives a pass back: to the next waiter if there is one.</summary>
    public void Exit()
    {
        Waiter? next;
        lock (_lock)
        {
            if (!_continuing.TryDequeue(out next) && !_new.TryDequeue(out next))
            {
                _free++;
                return;
            }
        }

        lock (next)
        {
            next.Granted = true;
            Monitor.Pulse(next);
        }
    }

    /// <summary>What a handshake waits on for its pass: one per handshake, so that a pass goes to exactly one thread.</summary>
    public sealed class Waiter
    {
        public bool Granted { get; set; }
    }
}
