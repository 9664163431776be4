namespace SukatDtls.Transport.Internal;

/// <summary>
/// Dedicated threads for BouncyCastle's blocking handshakes, so that they never occupy thread-pool threads.
/// At most <c>maxThreads</c> run at once and at most <c>queueLength</c> more wait; <see cref="TryReserve"/> says
/// beforehand whether a new handshake fits, so that nothing is allocated for a peer that cannot be served.
/// Threads start on demand and end after a while without work, so an idle server holds none.
/// </summary>
internal sealed class HandshakeWorkerPool : IDisposable
{
    private static readonly TimeSpan s_idleThreadLifetime = TimeSpan.FromSeconds(30);

    private readonly int _maxThreads;
    private readonly int _capacity;
    private readonly string _threadName;

    // A monitor, not SemaphoreSlim: SemaphoreSlim spins (sched_yield) before it blocks, and with one waiting thread
    // per idle worker that spinning took 12 % of the handshake threads' CPU on a 2-core machine (perf, 30,000
    // handshakes with 8 in flight). Monitor.Wait blocks at once.
    private readonly object _signal = new();
    private readonly Queue<Action> _work = new();
    private int _threads;
    private int _waiting;
    private int _wakeupsInFlight;
    private bool _stopped;
    private int _reserved;

    public HandshakeWorkerPool(int maxThreads, int queueLength, string threadName)
    {
        _maxThreads = maxThreads;
        _capacity = maxThreads + queueLength;
        _threadName = threadName;
    }

    /// <summary>Handshakes reserved, queued or running.</summary>
    public int Outstanding => Volatile.Read(ref _reserved);

    /// <summary>Live handshake threads.</summary>
    public int Threads => Volatile.Read(ref _threads);

    /// <summary>Reserves room for one handshake; false when running and waiting handshakes are at their caps.</summary>
    public bool TryReserve()
    {
        if (Interlocked.Increment(ref _reserved) > _capacity || Volatile.Read(ref _stopped))
        {
            Interlocked.Decrement(ref _reserved);
            return false;
        }

        return true;
    }

    /// <summary>Gives back a reservation that will not be used.</summary>
    public void CancelReservation() => Interlocked.Decrement(ref _reserved);

    /// <summary>Runs <paramref name="handshake"/> on a handshake thread, using a reservation from <see cref="TryReserve"/>.</summary>
    public void Run(Action handshake)
    {
        bool startThread = false;
        lock (_signal)
        {
            _work.Enqueue(handshake);
            if (_waiting > _wakeupsInFlight)
            {
                // An idle thread takes it.
                _wakeupsInFlight++;
                Monitor.Pulse(_signal);
            }
            else if (_threads < _maxThreads)
            {
                _threads++;
                startThread = true;
            }

            // Otherwise every thread is busy and the first to finish takes it from the queue.
        }

        if (startThread)
        {
            var thread = new Thread(WorkerLoop, maxStackSize: 512 * 1024)
            {
                IsBackground = true,
                Name = _threadName,
            };
            thread.UnsafeStart();
        }
    }

    private void WorkerLoop()
    {
        while (true)
        {
            Action? handshake;
            lock (_signal)
            {
                while (true)
                {
                    if (_stopped)
                    {
                        _threads--;
                        return;
                    }

                    if (_work.TryDequeue(out handshake))
                    {
                        break;
                    }

                    _waiting++;
                    bool woken = Monitor.Wait(_signal, s_idleThreadLifetime);
                    _waiting--;
                    if (_wakeupsInFlight > 0)
                    {
                        _wakeupsInFlight--;
                    }

                    // Work queued while the wait timed out keeps this thread; Run counted on it.
                    if (!woken && _work.Count == 0 && !_stopped)
                    {
                        _threads--;
                        return;
                    }
                }
            }

            try
            {
                handshake();
            }
            finally
            {
                Interlocked.Decrement(ref _reserved);
            }
        }
    }

    /// <summary>Stops taking work; threads end once their current handshake ends (each is bounded by its timeout).</summary>
    public void Dispose()
    {
        lock (_signal)
        {
            _stopped = true;
            Monitor.PulseAll(_signal);
        }
    }
}
