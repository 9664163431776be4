using System.Collections.Concurrent;

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
    private readonly ConcurrentQueue<Action> _work = new();
    private readonly SemaphoreSlim _available = new(0);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _threadsLock = new();
    private int _threads;
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
        if (Interlocked.Increment(ref _reserved) > _capacity || _stopping.IsCancellationRequested)
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
        _work.Enqueue(handshake);
        _available.Release();
        lock (_threadsLock)
        {
            if (_threads < _maxThreads && Volatile.Read(ref _reserved) > _threads)
            {
                _threads++;
                var thread = new Thread(WorkerLoop, maxStackSize: 512 * 1024)
                {
                    IsBackground = true,
                    Name = _threadName,
                };
                thread.UnsafeStart();
            }
        }
    }

    private void WorkerLoop()
    {
        var stopping = _stopping.Token;
        while (true)
        {
            bool signalled;
            try
            {
                signalled = _available.Wait(s_idleThreadLifetime, stopping);
            }
            catch (OperationCanceledException)
            {
                signalled = false;
            }

            if (!signalled)
            {
                lock (_threadsLock)
                {
                    // Work queued just after the wait ended keeps this thread alive; Run counts on it.
                    if (_available.CurrentCount == 0 || stopping.IsCancellationRequested)
                    {
                        _threads--;
                        return;
                    }
                }

                continue;
            }

            if (_work.TryDequeue(out var handshake))
            {
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
    }

    /// <summary>Stops taking work; threads end once their current handshake ends (each is bounded by its timeout).</summary>
    public void Dispose()
    {
        _stopping.Cancel();
    }
}
