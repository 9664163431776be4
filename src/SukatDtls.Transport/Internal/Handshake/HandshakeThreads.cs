namespace SukatDtls.Transport.Internal;

/// <summary>
/// Dedicated threads for BouncyCastle's blocking handshakes, one per handshake in progress, so that none of them ever
/// occupies a thread-pool thread. A finished handshake's thread parks and takes the next one (starting a thread costs
/// far more than a handshake's wake-up); a thread idle for a while (30 s by default) ends, so an idle server holds
/// none. At most a few threads stay parked (<see cref="DefaultMaxParked"/>): after a burst of hundreds of handshakes
/// the rest end as their handshakes do, so that thousands of idle sessions do not keep the burst's threads (each
/// ~90 KB) for the idle lifetime. How many run at once is the caller's bound (<see cref="HandshakeScheduler"/>), not
/// this class's.
/// </summary>
/// <param name="threadName">The threads' name (for debuggers and thread dumps).</param>
/// <param name="idleLifetime">How long a parked thread waits for work before it ends; default <see cref="DefaultIdleLifetime"/>.</param>
/// <param name="maxParked">How many threads may wait parked at once; default <see cref="DefaultMaxParked"/>.</param>
/// <remarks>
/// A parked or waiting thread costs its touched stack and the kernel's bookkeeping (about 90 KB measured with a
/// handshake's stack depth), no CPU: <see cref="HandshakeCpuGate"/> bounds how many compute.
/// </remarks>
internal sealed class HandshakeThreads(string threadName, TimeSpan? idleLifetime = null, int? maxParked = null) : IDisposable
{
    public static readonly TimeSpan DefaultIdleLifetime = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Parked threads kept for the next handshakes: enough for a steady stream of new handshakes on every core (a thread
    /// is made only when none is parked), few enough to cost under 2 MB after any burst.
    /// </summary>
    public static int DefaultMaxParked { get; } = Math.Max(16, 4 * Environment.ProcessorCount);

    private readonly TimeSpan _idleLifetime = idleLifetime ?? DefaultIdleLifetime;
    private readonly int _maxParked = maxParked ?? DefaultMaxParked;

    // The stack is reserved address space; only the pages a handshake touches cost memory.
    private const int StackSize = 512 * 1024;

    private readonly object _lock = new();
    private readonly LinkedList<Worker> _idle = new();
    private int _threads;
    private bool _stopped;

    /// <summary>Live threads (running a handshake or parked).</summary>
    public int Count => Volatile.Read(ref _threads);

    /// <summary>Threads parked, waiting for a handshake.</summary>
    public int Parked
    {
        get
        {
            lock (_lock)
            {
                return _idle.Count;
            }
        }
    }

    /// <summary>Runs <paramref name="work"/> on a parked thread, or a new one.</summary>
    /// <exception cref="ObjectDisposedException">The threads were stopped.</exception>
    public void Run(Action work)
    {
        Worker? worker = null;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_stopped, this);
            if (_idle.Last is { } node)
            {
                // The most recently parked thread: its stack and caches are warm.
                _idle.RemoveLast();
                worker = node.Value;
                worker.Work = work;
            }
            else
            {
                _threads++;
            }
        }

        if (worker is not null)
        {
            lock (worker)
            {
                Monitor.Pulse(worker);
            }

            return;
        }

        var created = new Worker(this) { Work = work };
        var thread = new Thread(created.Loop, StackSize) { IsBackground = true, Name = threadName };
        thread.UnsafeStart();
    }

    /// <summary>Parked threads end; running handshakes finish first (each is bounded by its timeout).</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _stopped = true;
            foreach (var worker in _idle)
            {
                lock (worker)
                {
                    Monitor.Pulse(worker);
                }
            }

            _idle.Clear();
        }
    }

    private sealed class Worker(HandshakeThreads owner)
    {
        public Action? Work { get; set; }

        public void Loop()
        {
            var node = new LinkedListNode<Worker>(this);
            while (true)
            {
                var work = Work!;
                Work = null;
                try
                {
                    work();
                }
                catch (Exception)
                {
                    // The handshake's own code reports its failures; nothing must end a pooled thread.
                }

                lock (owner._lock)
                {
                    if (owner._stopped || owner._idle.Count >= owner._maxParked)
                    {
                        // Stopped, or enough threads wait already (the end of a burst): this one ends now.
                        owner._threads--;
                        return;
                    }

                    owner._idle.AddLast(node);
                }

                lock (this)
                {
                    if (Work is null)
                    {
                        Monitor.Wait(this, owner._idleLifetime);
                    }
                }

                lock (owner._lock)
                {
                    if (Work is not null)
                    {
                        continue;
                    }

                    // Idle too long (or stopped): leave, unless Run picked this thread meanwhile.
                    if (node.List is not null)
                    {
                        owner._idle.Remove(node);
                    }

                    owner._threads--;
                    return;
                }
            }
        }
    }
}
