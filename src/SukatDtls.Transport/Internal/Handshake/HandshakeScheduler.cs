namespace SukatDtls.Transport.Internal;

/// <summary>
/// Admits handshakes and runs each on a thread of its own (<see cref="HandshakeThreads"/>) — or, ours, between datagrams
/// (<see cref="Ecdhe.ReceiveLoopHandshake"/>) — with at most <see cref="HandshakeCpuGate.Passes"/> computing at once on
/// threads. How many may be in progress is bounded by memory (<see cref="Capacity"/>), not by CPU: a handshake waiting
/// for its peer costs a parked thread (between datagrams, a timer), and round trips no longer limit how many handshakes
/// finish per second.
/// </summary>
/// <remarks>
/// <para>
/// When the capacity is full, a new verified peer takes the place of a handshake that waits for its own peer — never
/// of one that is computing — in this order: a handshake of a source network (<see cref="SourcePrefix"/>) that holds
/// more than its fair share (capacity over networks in progress) and more than the newcomer's network, at once;
/// else one that has waited at least <see cref="MinEvictableWait"/> (a peer that has not answered within a
/// retransmission period is slow, lossy or silent), of the heaviest network at least as heavy as the newcomer's. Each
/// time the victim is its network's longest-waiting handshake. So peers that pass the cookie exchange and go silent,
/// from one address or one subnet, can fill only what nobody else wants and give way first, and a newcomer never takes
/// a lighter network's place. When no handshake can give way, the newcomer is refused (it gets no answer; its
/// retransmitted ClientHello tries again).
/// </para>
/// <para>Thread-safe. Admission runs on the listener's dispatch; the transitions on handshake threads.</para>
/// </remarks>
internal sealed class HandshakeScheduler : IDisposable
{
    private readonly object _lock = new();
    private readonly Dictionary<ulong, PrefixLoad> _prefixes = [];
    private readonly HandshakeThreads _threads;
    private readonly TimeProvider _timeProvider;
    private readonly Queue<(HandshakeSlot Slot, Action FirstFlight)> _firstFlights = new();
    private int _firstFlightThreads;
    private int _inProgress;
    private bool _stopped;

    /// <param name="capacity">Handshakes in progress at most (computing or waiting for the peer).</param>
    /// <param name="minEvictableWait">How long a handshake must have waited for its peer before a new one may take its place; <see cref="Timeout.InfiniteTimeSpan"/>: never.</param>
    /// <param name="threadName">The handshake threads' name.</param>
    /// <param name="timeProvider">The clock of the waits.</param>
    /// <param name="cpuPasses">How many compute at once; default one per core.</param>
    /// <param name="idleThreadLifetime">How long a parked handshake thread lives without work; default 30 s.</param>
    public HandshakeScheduler(int capacity, TimeSpan minEvictableWait, string threadName, TimeProvider timeProvider, int? cpuPasses = null,
        TimeSpan? idleThreadLifetime = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        MinEvictableWait = minEvictableWait;
        _threads = new HandshakeThreads(threadName, idleThreadLifetime);
        _timeProvider = timeProvider;
        Gate = new HandshakeCpuGate(cpuPasses ?? Environment.ProcessorCount);
    }

    public int Capacity { get; }

    public TimeSpan MinEvictableWait { get; }

    public HandshakeCpuGate Gate { get; }

    /// <summary>Handshakes admitted and not yet finished or evicted.</summary>
    public int InProgress => Volatile.Read(ref _inProgress);

    /// <summary>Handshake threads alive (running or parked).</summary>
    public int Threads => _threads.Count;

    /// <summary>Handshakes waiting for their peer now.</summary>
    public int WaitingForPeer
    {
        get
        {
            lock (_lock)
            {
                return _prefixes.Values.Sum(static p => p.Waiting.Count);
            }
        }
    }

    /// <summary>
    /// Admits a handshake from <paramref name="prefix"/>, or returns null when there is no room. When the capacity is
    /// full and a waiting handshake gives way, it is returned in <paramref name="evicted"/>: the caller calls its
    /// <see cref="HandshakeSlot.Evict"/> (outside any lock of its own that the evicted handshake's thread might take).
    /// </summary>
    public HandshakeSlot? TryAdmit(ulong prefix, out HandshakeSlot? evicted)
    {
        evicted = null;
        lock (_lock)
        {
            if (_stopped)
            {
                return null;
            }

            if (_inProgress >= Capacity)
            {
                evicted = FindVictim(prefix);
                if (evicted is null)
                {
                    return null;
                }

                evicted.IsEvicted = true;
                evicted.EvictedAfter = _timeProvider.GetElapsedTime(evicted.WaitingSince);
                Forget(evicted);
            }

            var slot = new HandshakeSlot(this, prefix);
            if (!_prefixes.TryGetValue(prefix, out var load))
            {
                load = new PrefixLoad();
                _prefixes[prefix] = load;
            }

            load.InProgress++;
            _inProgress++;
            return slot;
        }
    }

    /// <summary>Runs an admitted handshake on a handshake thread; the slot is finished when <paramref name="handshake"/> returns or throws.</summary>
    /// <exception cref="ObjectDisposedException">The scheduler was stopped (the slot is finished).</exception>
    public void Run(HandshakeSlot slot, Action handshake)
    {
        try
        {
            _threads.Run(() =>
            {
                try
                {
                    handshake();
                }
                finally
                {
                    slot.Finish();
                }
            });
        }
        catch (ObjectDisposedException)
        {
            slot.Finish();
            throw;
        }
    }

    /// <summary>
    /// Queues the first flight of a handshake that goes on between datagrams (<see cref="Ecdhe.ReceiveLoopHandshake"/>):
    /// work that only computes and never waits for the peer, so a few handshake threads take such work in turn — at
    /// most one per CPU pass, another woken only when more first flights wait than threads are taking them — and a
    /// burst of new handshakes costs a wake-up per thread, not one per handshake (and none waits for a pass it could
    /// not get). <paramref name="firstFlight"/> reports its own end and failures, which finish <paramref name="slot"/>;
    /// if it throws, the slot is finished here, as <see cref="Run"/> does.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The scheduler was stopped (the slot is finished).</exception>
    public void QueueFirstFlight(HandshakeSlot slot, Action firstFlight)
    {
        lock (_lock)
        {
            if (!_stopped)
            {
                _firstFlights.Enqueue((slot, firstFlight));
                if (_firstFlightThreads < Gate.Passes && _firstFlights.Count > _firstFlightThreads)
                {
                    // Under the lock, so that Dispose (which stops the threads after setting _stopped here) cannot come
                    // between the check and the start, leaving queued work without a thread.
                    _firstFlightThreads++;
                    _threads.Run(ComputeFirstFlights);
                }

                return;
            }
        }

        slot.Finish();
        throw new ObjectDisposedException(nameof(HandshakeScheduler));
    }

    /// <summary>Handshake threads that take queued first flights now.</summary>
    internal int FirstFlightThreads
    {
        get
        {
            lock (_lock)
            {
                return _firstFlightThreads;
            }
        }
    }

    /// <summary>A handshake thread's turn at the queued first flights: until none is left.</summary>
    private void ComputeFirstFlights()
    {
        while (true)
        {
            (HandshakeSlot Slot, Action FirstFlight) next;
            lock (_lock)
            {
                if (!_firstFlights.TryDequeue(out next))
                {
                    _firstFlightThreads--;
                    return;
                }
            }

            try
            {
                next.FirstFlight();
            }
            catch (Exception)
            {
                // The work reports its own failures (its handshake ends with them); one that escapes still gives the
                // handshake's place and pass back (Finish is once only), and nothing may stop the queue's turn.
                next.Slot.Finish();
            }
        }
    }

    internal void OnWaitingForPeer(HandshakeSlot slot, bool waiting)
    {
        lock (_lock)
        {
            if (slot.IsEvicted || !_prefixes.TryGetValue(slot.Prefix, out var load))
            {
                return;
            }

            if (waiting && !slot.IsWaitingForPeer)
            {
                if (!slot.HasWaitedForPeer)
                {
                    slot.HasWaitedForPeer = true;
                    slot.WaitingSince = _timeProvider.GetTimestamp();
                    load.Waiting.AddLast(slot.WaitingNode);
                }
                else
                {
                    // Waiting again (a handshake on a thread, after its peer sent something): back in its place by its
                    // first wait, so that the list stays oldest first and what the peer sent does not make it look new.
                    InsertByWaitingSince(load.Waiting, slot.WaitingNode);
                }
            }
            else if (!waiting && slot.IsWaitingForPeer)
            {
                load.Waiting.Remove(slot.WaitingNode);
            }
        }
    }

    /// <summary>Inserts <paramref name="node"/> after the last one that has waited at least as long (searched from the newest).</summary>
    private static void InsertByWaitingSince(LinkedList<HandshakeSlot> waiting, LinkedListNode<HandshakeSlot> node)
    {
        var before = waiting.Last;
        while (before is not null && before.Value.WaitingSince > node.Value.WaitingSince)
        {
            before = before.Previous;
        }

        if (before is null)
        {
            waiting.AddFirst(node);
        }
        else
        {
            waiting.AddAfter(before, node);
        }
    }

    /// <summary>The handshake ended (or was never started): its place is free, unless eviction freed it already.</summary>
    internal void Release(HandshakeSlot slot)
    {
        lock (_lock)
        {
            if (!slot.IsEvicted)
            {
                Forget(slot);
            }
        }
    }

    private void Forget(HandshakeSlot slot)
    {
        _inProgress--;
        if (_prefixes.TryGetValue(slot.Prefix, out var load))
        {
            if (slot.IsWaitingForPeer)
            {
                load.Waiting.Remove(slot.WaitingNode);
            }

            if (--load.InProgress == 0)
            {
                _prefixes.Remove(slot.Prefix);
            }
        }
    }

    /// <summary>
    /// Which waiting handshake gives way to a newcomer from <paramref name="newcomer"/>, if any: first, at once, one of
    /// a network that holds more than its fair share and more than the newcomer's; else one that has waited at least
    /// <see cref="MinEvictableWait"/>, of the heaviest network at least as heavy as the newcomer's (its own included).
    /// Each time the oldest waiting handshake of that network.
    /// </summary>
    private HandshakeSlot? FindVictim(ulong newcomer)
    {
        if (MinEvictableWait == Timeout.InfiniteTimeSpan)
        {
            return null;
        }

        int newcomerLoad = (_prefixes.TryGetValue(newcomer, out var own) ? own.InProgress : 0) + 1;
        int networks = _prefixes.Count + (own is null ? 1 : 0);
        int fairShare = Math.Max(1, Capacity / networks);
        return Heaviest(newcomer, newcomerLoad, (prefix, load, _) => prefix != newcomer && load > fairShare && load > newcomerLoad)
            ?? Heaviest(newcomer, newcomerLoad, (prefix, load, waited) => waited >= MinEvictableWait && (prefix == newcomer || load >= newcomerLoad));
    }

    /// <summary>The oldest waiting handshake of the heaviest network that <paramref name="eligible"/> allows (ties: the longest waiting).</summary>
    private HandshakeSlot? Heaviest(ulong newcomer, int newcomerLoad, Func<ulong, int, TimeSpan, bool> eligible)
    {
        long now = _timeProvider.GetTimestamp();
        HandshakeSlot? victim = null;
        int victimLoad = 0;
        foreach (var (prefix, load) in _prefixes)
        {
            if (load.Waiting.First is not { } oldest)
            {
                continue;
            }

            int effective = prefix == newcomer ? newcomerLoad : load.InProgress;
            if (!eligible(prefix, effective, _timeProvider.GetElapsedTime(oldest.Value.WaitingSince, now)))
            {
                continue;
            }

            if (victim is null || effective > victimLoad || (effective == victimLoad && oldest.Value.WaitingSince < victim.WaitingSince))
            {
                victim = oldest.Value;
                victimLoad = effective;
            }
        }

        return victim;
    }

    /// <summary>Stops admitting; parked threads end, running handshakes finish (each is bounded by its timeout).</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _stopped = true;
        }

        _threads.Dispose();
    }

    /// <summary>One source network's handshakes: how many are in progress, and which wait for their peer, oldest first.</summary>
    private sealed class PrefixLoad
    {
        public int InProgress { get; set; }

        public LinkedList<HandshakeSlot> Waiting { get; } = new();
    }
}
