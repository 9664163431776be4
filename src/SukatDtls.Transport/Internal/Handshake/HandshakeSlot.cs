namespace SukatDtls.Transport.Internal;

/// <summary>
/// One handshake's place in the <see cref="HandshakeScheduler"/>: admitted, computing (with or waiting for a CPU pass),
/// waiting for the peer, finished or evicted. The handshake thread reports each transition: the transport before it
/// blocks for the peer's next flight (<see cref="WaitForPeer"/>) and when a datagram came (<see cref="PeerAnswered"/>),
/// the peers around the application's callbacks (<see cref="OffCpu{T}"/>).
/// </summary>
/// <remarks>
/// Only the handshake's own thread calls <see cref="EnterCpu"/>, <see cref="WaitForPeer"/>, <see cref="PeerAnswered"/>,
/// <see cref="OffCpu{T}"/> and <see cref="Finish"/> — or, for a handshake that runs between datagrams
/// (<see cref="Ecdhe.ReceiveLoopHandshake"/>), whoever holds its lock; the scheduler's lock guards what the admission of
/// other peers reads.
/// </remarks>
internal sealed class HandshakeSlot
{
    private readonly HandshakeScheduler _scheduler;
    private readonly HandshakeCpuGate.Waiter _waiter = new();
    private bool _holdsPass;
    private bool _finished;

    internal HandshakeSlot(HandshakeScheduler scheduler, ulong prefix)
    {
        _scheduler = scheduler;
        Prefix = prefix;
        WaitingNode = new LinkedListNode<HandshakeSlot>(this);
    }

    /// <summary>The source network (<see cref="SourcePrefix"/>) whose share of the capacity this handshake counts in.</summary>
    public ulong Prefix { get; }

    /// <summary>What ends the handshake when the scheduler gives its place to a new peer (set by the owner).</summary>
    public Action? Evict { get; set; }

    /// <summary>The peer, for the log line of an eviction (set by the owner).</summary>
    public System.Net.IPEndPoint? Peer { get; set; }

    /// <summary>The scheduler gave this handshake's place to a new peer: its failure is an eviction.</summary>
    public bool IsEvicted { get; internal set; }

    /// <summary>How long the handshake had waited for its peer when it was evicted.</summary>
    public TimeSpan EvictedAfter { get; internal set; }

    /// <summary>
    /// Since when the handshake waits for its peer: a timestamp of its first wait (after its first flight).
    /// Its peer's datagrams do not move it: nothing before the client's Finished is authenticated, so a silent peer's
    /// junk must not make its handshake look fresh.
    /// </summary>
    internal long WaitingSince { get; set; }

    /// <summary>Whether the handshake has waited for its peer yet (<see cref="WaitingSince"/> is set).</summary>
    internal bool HasWaitedForPeer { get; set; }

    internal bool IsWaitingForPeer => WaitingNode.List is not null;

    /// <summary>The node of the scheduler's per-prefix list of handshakes waiting for their peer.</summary>
    internal LinkedListNode<HandshakeSlot> WaitingNode { get; }

    /// <summary>Takes a CPU pass (blocks until one is free): the handshake starts computing, or continues.</summary>
    /// <param name="continuing">The peer answered: the handshake is nearer done than a new one and goes first.</param>
    public void EnterCpu(bool continuing)
    {
        if (!_holdsPass)
        {
            _scheduler.Gate.Enter(_waiter, continuing);
            _holdsPass = true;
        }
    }

    /// <summary>Takes a CPU pass if one is free now, without waiting (on a receive loop).</summary>
    public bool TryEnterCpu()
    {
        if (!_holdsPass && _scheduler.Gate.TryEnter())
        {
            _holdsPass = true;
        }

        return _holdsPass;
    }

    /// <summary>
    /// The handshake blocks for the peer's next flight: its pass goes to another, and it may be evicted, counted as
    /// waiting since its first wait.
    /// </summary>
    public void WaitForPeer()
    {
        ReleasePass();
        _scheduler.OnWaitingForPeer(this, waiting: true);
    }

    /// <summary>
    /// A datagram from the peer came: the handshake computes again (after a pass is free), and cannot be evicted until
    /// it waits again.
    /// </summary>
    public void PeerAnswered()
    {
        _scheduler.OnWaitingForPeer(this, waiting: false);
        EnterCpu(continuing: true);
    }

    /// <summary>
    /// Runs <paramref name="wait"/> — the application's key store, session cache or certificate validation, which may
    /// block — without a CPU pass, and takes one again afterwards. Not counted as waiting for the peer.
    /// </summary>
    public T OffCpu<T>(Func<T> wait)
    {
        bool held = _holdsPass;
        ReleasePass();
        try
        {
            return wait();
        }
        finally
        {
            if (held)
            {
                EnterCpu(continuing: true);
            }
        }
    }

    /// <inheritdoc cref="OffCpu{T}(Func{T})"/>
    public void OffCpu(Action wait) => OffCpu<object?>(() =>
    {
        wait();
        return null;
    });

    /// <summary>The handshake ended (done, failed or evicted): its pass and its place are free.</summary>
    public void Finish()
    {
        if (_finished)
        {
            return;
        }

        _finished = true;
        ReleasePass();
        _scheduler.Release(this);
    }

    private void ReleasePass()
    {
        if (_holdsPass)
        {
            _holdsPass = false;
            _scheduler.Gate.Exit();
        }
    }
}
