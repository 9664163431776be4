using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// One receive loop of <see cref="PeerReceiveEngine"/>: a thread waiting in <c>epoll_wait</c> for its peer sockets,
/// which calls a socket's receiver right there when it becomes readable.
/// </summary>
/// <remarks>
/// Sockets are level-triggered: a receiver that leaves datagrams waiting (it read its per-pass maximum) is called again
/// on the next wait. An event carries its registration's slot and generation, never a descriptor number, so a socket
/// closed and a new one given the same number can never be confused, even for events already fetched.
/// </remarks>
internal sealed unsafe class PeerReceiveLoop
{
    private const int MaxEvents = 64;

    [ThreadStatic]
    private static PeerReceiveLoop? t_current;

    // Touched only by the loop's own thread.
    private readonly List<(IIdleWork Work, object State)> _idleWork = [];
    private long _idleWorkSince;
    private readonly long _maxIdleWorkDelay;

    private readonly int _epoll;
    private readonly Lock _slotsLock = new();
    private readonly Stack<int> _freeSlots = new();
    private PeerReceiveRegistration?[] _slots = new PeerReceiveRegistration?[64];
    private int _usedSlots;
    private uint _nextGeneration;

    /// <param name="index">Its number, in its thread's name.</param>
    /// <param name="batchCapacity">Datagrams one <c>recvmmsg</c> takes at most.</param>
    /// <param name="datagramRoom">Bytes of room for each datagram.</param>
    /// <param name="maxIdleWorkDelay">How long work deferred with <see cref="RunWhenIdle"/> waits at most while the loop stays busy.</param>
    public PeerReceiveLoop(int index, int batchCapacity, int datagramRoom, TimeSpan maxIdleWorkDelay)
    {
        _maxIdleWorkDelay = (long)(maxIdleWorkDelay.TotalSeconds * Stopwatch.Frequency);
        _epoll = LinuxSockets.CreateEpoll();
        var batch = new DatagramBatch(batchCapacity, datagramRoom);
        var thread = new Thread(() => Run(batch))
        {
            IsBackground = true,
            Name = $"DTLS receive {index}",
        };
        thread.UnsafeStart();
    }

    /// <summary>Adds <paramref name="socket"/>, armed.</summary>
    /// <exception cref="ObjectDisposedException">The socket is closed.</exception>
    public PeerReceiveRegistration Add(Socket socket, IPeerDatagramReceiver receiver)
    {
        PeerReceiveRegistration registration;
        lock (_slotsLock)
        {
            if (!_freeSlots.TryPop(out int slot))
            {
                if (_usedSlots == _slots.Length)
                {
                    var grown = new PeerReceiveRegistration?[_slots.Length * 2];
                    _slots.CopyTo(grown, 0);
                    Volatile.Write(ref _slots, grown);
                }

                slot = _usedSlots++;
            }

            registration = new PeerReceiveRegistration(this, socket, receiver, slot, unchecked(++_nextGeneration));
            _slots[slot] = registration;
        }

        int error = LinuxSockets.Control(_epoll, LinuxSockets.EpollCtlAdd, registration.Handle, LinuxSockets.EpollIn, EventData(registration));
        if (error != 0)
        {
            Release(registration);
            throw new SocketException(error);
        }

        return registration;
    }

    /// <summary>Changes what <paramref name="registration"/> waits for; a closed socket is left alone (it has left epoll).</summary>
    public void Modify(PeerReceiveRegistration registration, uint events)
    {
        try
        {
            LinuxSockets.Control(_epoll, LinuxSockets.EpollCtlMod, registration.Handle, events, EventData(registration));
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Takes <paramref name="registration"/> out; a closed socket already left epoll when its descriptor closed.</summary>
    public void Remove(PeerReceiveRegistration registration)
    {
        // A connection closes its socket before it stops the registration. A closed descriptor leaves every epoll set
        // by itself (when its last reference goes), so there is nothing to remove; asking would only throw, once per
        // connection (0.7 exceptions per handshake, the benchmark's clients closing as they do). A late event for it
        // finds its slot released and is ignored.
        if (!registration.Handle.IsClosed)
        {
            try
            {
                LinuxSockets.Control(_epoll, LinuxSockets.EpollCtlDel, registration.Handle, 0, 0);
            }
            catch (ObjectDisposedException)
            {
                // Closed in between.
            }
        }

        Release(registration);
    }

    private void Release(PeerReceiveRegistration registration)
    {
        lock (_slotsLock)
        {
            if (ReferenceEquals(_slots[registration.Slot], registration))
            {
                _slots[registration.Slot] = null;
                _freeSlots.Push(registration.Slot);
            }
        }
    }

    /// <summary>The loop whose thread calls; null on any other thread.</summary>
    public static PeerReceiveLoop? Current => t_current;

    /// <summary>
    /// Runs <paramref name="work"/> on this loop's thread once it has served the events at hand and none wait (just
    /// before it would sleep in <c>epoll_wait</c>); if events keep coming, after the batch of events during which the
    /// loop's bound passed (a millisecond on the engine's loops). Only this loop's own thread (<see cref="Current"/>)
    /// may call.
    /// </summary>
    /// <remarks>
    /// For work that wakes another thread and need not happen at once: done when the loop is about to sleep, the woken
    /// thread takes the core the loop leaves instead of preempting it, and work gathered meanwhile goes out together.
    /// Its use: finished handshakes reach Kestrel's accept loop together, which queues their connections to the thread
    /// pool back to back.
    /// </remarks>
    public void RunWhenIdle(IIdleWork work, object state)
    {
        Debug.Assert(t_current == this, "only the loop's own thread defers work to it");
        if (_idleWork.Count == 0)
        {
            _idleWorkSince = Stopwatch.GetTimestamp();
        }

        _idleWork.Add((work, state));
    }

    private void RunIdleWork()
    {
        // Work run here may defer more: that waits for the next round.
        int count = _idleWork.Count;
        for (int i = 0; i < count; i++)
        {
            var (work, state) = _idleWork[i];
            try
            {
                work.RunWhenIdle(state);
            }
            catch (Exception)
            {
                // Each work item reports its own failures; the loop must live whatever happened.
            }
        }

        _idleWork.RemoveRange(0, count);
        if (_idleWork.Count > 0)
        {
            _idleWorkSince = Stopwatch.GetTimestamp();
        }
    }

    private static ulong EventData(PeerReceiveRegistration registration) => ((ulong)registration.Generation << 32) | (uint)registration.Slot;

    private void Run(DatagramBatch batch)
    {
        t_current = this;
        byte* events = (byte*)NativeMemory.Alloc((nuint)(MaxEvents * LinuxSockets.EpollEventSize));
        while (true)
        {
            // With idle work waiting, look without sleeping: nothing ready means idle, and the work runs now.
            int count = LinuxSockets.Wait(_epoll, events, MaxEvents, _idleWork.Count > 0 ? 0 : -1);
            if (count <= 0)
            {
                // Below 0: EINTR (the runtime suspends threads with signals); nothing else can fail on a valid epoll.
                if (count == 0)
                {
                    RunIdleWork();
                }

                continue;
            }

            var slots = Volatile.Read(ref _slots);
            for (int i = 0; i < count; i++)
            {
                ulong data = LinuxSockets.DataAt(events, i);
                int slot = (int)(uint)data;
                var registration = slot < slots.Length ? Volatile.Read(ref slots[slot]) : null;
                if (registration is null || registration.Generation != (uint)(data >> 32) || registration.IsStopped)
                {
                    // Removed after epoll_wait fetched its event.
                    continue;
                }

                try
                {
                    registration.Receiver.OnReadable(registration, batch);
                }
                catch (Exception ex)
                {
                    // The receiver's own failure: this loop serves every other socket on, whatever happened.
                    registration.Stop();
                    try
                    {
                        registration.Receiver.OnReceiveFailed(ex);
                    }
                    catch (Exception)
                    {
                        // Nothing more can be done for that socket here; the loop must live.
                    }
                }
            }

            if (_idleWork.Count > 0 && Stopwatch.GetTimestamp() - _idleWorkSince >= _maxIdleWorkDelay)
            {
                // Busy all the while since the oldest was deferred: its turn without waiting for idle.
                RunIdleWork();
            }
        }
    }
}
