using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.Internal.Ecdhe;

/// <summary>
/// Runs our own server handshake (<see cref="EcdheServerHandshake"/>) between datagrams instead of on a thread that
/// waits for the peer. Its first flight is computed on the listener's receive loop when the loop has nothing else
/// waiting and a CPU pass is free at once, else by one of the few handshake threads that take queued first flights in
/// turn (<see cref="HandshakeScheduler.QueueFirstFlight"/>) — and sent; from then on
/// the receive loop that reads the peer's socket hands the client's datagrams in (<see cref="OnDatagram"/>), the
/// client's flight is processed right there, and a timer resends our flight and ends the handshake at its timeout.
/// </summary>
/// <remarks>
/// <para>
/// Why: a handshake on a thread of its own cost a wake-up to hand the ClientHello over and one more for every flight of
/// the peer, each a context switch; and a peer that answers slowly (or never) held a parked thread. Here a handshake in
/// progress is memory and a timer, and the peer's flight costs only the receive loop's wake-up (none when the loop is
/// busy anyway).
/// </para>
/// <para>
/// The client's flight is computed on the receive loop without a CPU pass (a loop is one thread, and there is one per two
/// cores: it bounds itself); the first flight takes a pass, so no more than <see cref="HandshakeCpuGate.Passes"/> first
/// flights compute at once, as on handshake threads. A distributed session cache's lookup waits, which a loop must never
/// do: a client that offers a session to resume there stays on a handshake thread; a new session is stored without
/// waiting (<see cref="ServerSessionStore.Store"/>).
/// </para>
/// <para>
/// Thread-safety: the receive loop (datagrams), the timer (resends, the timeout) and an abort (eviction, shutdown) meet
/// under one lock; whichever ends the handshake tells the owner, once. The timer runs on real time, as the handshake
/// thread's waits do.
/// </para>
/// </remarks>
internal sealed class ReceiveLoopHandshake : IDatagramHandshake
{
    private readonly Lock _lock = new();
    private readonly EcdheServerHandshake _handshake;
    private readonly DtlsConnection _connection;
    private readonly HandshakeSlot _slot;
    private readonly IServerHandshakeOwner _owner;
    private readonly long _started;
    private readonly TimeProvider _timeProvider;
    private ITimer? _timer;
    private bool _ended;

    private ReceiveLoopHandshake(EcdheServerHandshake handshake, DtlsConnection connection, HandshakeSlot slot, IServerHandshakeOwner owner, long started,
        TimeProvider timeProvider)
    {
        _handshake = handshake;
        _connection = connection;
        _slot = slot;
        _owner = owner;
        _started = started;
        _timeProvider = timeProvider;
    }

    /// <summary>
    /// Whether a handshake of <paramref name="settings"/> on <paramref name="connection"/> for <paramref name="clientHello"/>
    /// can run between datagrams: the receive loops read the peer's socket, and the session cache never makes it wait —
    /// none, the in-memory one, or any other when the client offers no session to resume (no lookup; the new session is
    /// stored in the background).
    /// </summary>
    public static bool IsPossible(ServerPeerSettings settings, DtlsConnection connection, ClientHelloMessage clientHello) =>
        connection.ReceivesOnLoops && (settings.Sessions is null or MemoryDtlsSessionCache || clientHello.SessionId.IsEmpty);

    /// <summary>
    /// Starts the handshake (the caller holds its CPU pass, which is given back here): our first flight is computed and
    /// sent, then the handshake waits for the client's on the peer socket's receive loop. Its end, either way, goes to
    /// <paramref name="owner"/>.
    /// </summary>
    public static void Start(ServerPeerSettings settings, EcdheServerPlan plan, ClientHelloMessage clientHello, DtlsConnection connection, HandshakeSlot slot,
        IServerHandshakeOwner owner, long started, TimeProvider timeProvider)
    {
        EcdheServerHandshake ecdhe;
        try
        {
            ecdhe = new EcdheServerHandshake(settings, plan, clientHello, connection.Datagrams);
        }
        catch (Exception ex)
        {
            // Its key share could not be made: it ends before it began, as any failure (the pass goes with the slot).
            owner.OnHandshakeFailed(connection, slot, started, ex);
            return;
        }

        new ReceiveLoopHandshake(ecdhe, connection, slot, owner, started, timeProvider).Start();
    }

    private void Start()
    {
        lock (_lock)
        {
            try
            {
                _handshake.Start(_started, _timeProvider);
            }
            catch (Exception ex)
            {
                End(ex);
                return;
            }

            // Nothing to compute until the client answers: the pass goes to another handshake, and this one may give
            // way to a new peer from now on (HandshakeScheduler).
            _slot.WaitForPeer();
            _timer = TimeProvider.System.CreateTimer(static state => ((ReceiveLoopHandshake)state!).OnTimer(), this, DueIn(), Timeout.InfiniteTimeSpan);
        }

        // Outside the lock: the loop may hand in a datagram at once. An abort since the flight went out ends the
        // handshake here (OnConnectionAborted).
        _connection.ReceiveForHandshake(this);
    }

    public int OnDatagram(Span<byte> datagram)
    {
        lock (_lock)
        {
            if (_ended)
            {
                return datagram.Length;
            }

            // The handshake stays "waiting for its peer" in the scheduler, since its start: nothing before the client's
            // Finished is authenticated, so no datagram makes it look fresh (a peer sending junk to its own socket would
            // otherwise never give way). An eviction meanwhile waits for this lock, and a handshake it ended is
            // refused by the owner.
            try
            {
                int used = _handshake.OnDatagram(datagram);
                if (!_handshake.IsFinished)
                {
                    return used;
                }

                var completed = _handshake.Complete(_connection, _started, _timeProvider, waitForStore: false);
                EndQuietly();
                _owner.OnHandshakeCompleted(_connection, _slot, _started, completed);
                return used;
            }
            catch (Exception ex)
            {
                // The owner deals with its own failures; anything before it ends the handshake.
                if (!_ended)
                {
                    End(ex);
                }

                return datagram.Length;
            }
        }
    }

    public void OnConnectionAborted()
    {
        lock (_lock)
        {
            if (!_ended)
            {
                End(new IOException("The DTLS connection was closed."));
            }
        }
    }

    private void OnTimer()
    {
        lock (_lock)
        {
            if (_ended)
            {
                return;
            }

            try
            {
                _handshake.OnTimer(Environment.TickCount64);
            }
            catch (Exception ex)
            {
                End(ex);
                return;
            }

            _timer!.Change(DueIn(), Timeout.InfiniteTimeSpan);
        }
    }

    private TimeSpan DueIn() => TimeSpan.FromMilliseconds(Math.Max(1, _handshake.TimerDueAt - Environment.TickCount64));

    /// <summary>The handshake failed (under the lock): its alert, if one is due, goes out; the owner ends the connection.</summary>
    private void End(Exception error)
    {
        try
        {
            _handshake.OnFailed(_connection, error);
        }
        finally
        {
            EndQuietly();
            _owner.OnHandshakeFailed(_connection, _slot, _started, error);
        }
    }

    /// <summary>No more events (under the lock): the timer stops, the handshake's keys and buffers go.</summary>
    private void EndQuietly()
    {
        _ended = true;
        _timer?.Dispose();
        _handshake.Dispose();
    }
}
