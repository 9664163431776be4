using System.Net.Sockets;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// One peer socket in a receive loop of <see cref="PeerReceiveEngine"/>: armed (the loop calls its receiver when the
/// socket is readable), paused (a pass is being finished elsewhere) or stopped (for good; <see cref="Ended"/> completes).
/// </summary>
internal sealed class PeerReceiveRegistration
{
    private readonly PeerReceiveLoop _loop;
    // Its continuations run on the thread that stops it (no thread-pool hop at every connection's end): an awaiter whose
    // work may not run there (under the stopping caller's locks, within a receive pass) moves on by itself.
    private readonly TaskCompletionSource _ended = new();
    private readonly Lock _lock = new();
    private bool _paused;
    private volatile bool _stopped;

    public PeerReceiveRegistration(PeerReceiveLoop loop, Socket socket, IPeerDatagramReceiver receiver, int slot, uint generation)
    {
        _loop = loop;
        Socket = socket;
        Handle = socket.SafeHandle;
        Receiver = receiver;
        Slot = slot;
        Generation = generation;
    }

    public Socket Socket { get; }

    /// <summary>The loop that serves it.</summary>
    public PeerReceiveLoop Loop => _loop;

    public SafeSocketHandle Handle { get; }

    public IPeerDatagramReceiver Receiver { get; }

    /// <summary>Where the loop keeps it; with <see cref="Generation"/>, what its epoll events carry.</summary>
    public int Slot { get; }

    /// <summary>Tells this registration from an earlier one in the same slot, whose events may still be in a batch.</summary>
    public uint Generation { get; }

    /// <summary>Stopped: the loop no longer calls the receiver.</summary>
    public bool IsStopped => _stopped;

    /// <summary>Completes when the registration stops; its continuations run on the stopping thread, within <see cref="Stop"/>.</summary>
    public Task Ended => _ended.Task;

    /// <summary>
    /// The loop stops calling the receiver until <see cref="Resume"/> (the receiver finishes a pass on another thread).
    /// At most one call may still come (an event already fetched); the receiver's own gate turns it away.
    /// </summary>
    public void Pause()
    {
        lock (_lock)
        {
            if (_stopped || _paused)
            {
                return;
            }

            _paused = true;

            // One-shot with no events: disarmed even for errors, which epoll reports unasked.
            _loop.Modify(this, LinuxSockets.EpollOneShot);
        }
    }

    /// <summary>The loop calls the receiver again whenever the socket is readable.</summary>
    public void Resume()
    {
        lock (_lock)
        {
            if (_stopped || !_paused)
            {
                return;
            }

            _paused = false;
            _loop.Modify(this, LinuxSockets.EpollIn);
        }
    }

    /// <summary>Stops for good (any thread, any number of times): the socket leaves the loop and <see cref="Ended"/> completes.</summary>
    public void Stop()
    {
        lock (_lock)
        {
            if (_stopped)
            {
                return;
            }

            _stopped = true;
        }

        _loop.Remove(this);
        _ended.TrySetResult();
    }
}
