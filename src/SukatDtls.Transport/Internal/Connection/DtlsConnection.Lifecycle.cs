using Microsoft.AspNetCore.Connections;
using Org.BouncyCastle.Tls;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.Internal;

/// <summary>The end of a connection: close_notify, abort, dispose, the ConnectionClosed token, alerts from BouncyCastle.</summary>
internal sealed partial class DtlsConnection : IDtlsPeerEvents
{
    /// <summary>
    /// Ends a connection whose peer restarted (it sent a new ClientHello from the same address and port): the old
    /// session is dead on the peer's side, so no close_notify, and the socket is closed at once to free the 4-tuple.
    /// </summary>
    public void AbortForReplacement()
    {
        _skipCloseNotify = true;
        Abort(new ConnectionAbortedException("The peer restarted: a new handshake from the same address and port replaces this connection."));
    }

    /// <summary>
    /// Ends a handshake that waited long for a silent peer, to give its place to a new verified peer
    /// (<see cref="HandshakeScheduler"/>): its socket closes, and the handshake thread's wait ends at once.
    /// </summary>
    public void AbortForEviction() =>
        Abort(new ConnectionAbortedException("The handshake gave way to a new peer: the handshake capacity was full and this peer had not answered for long."));

    /// <summary>Sends close_notify if the session is up, unless the peer restarted (its session is gone).</summary>
    private void CloseProtocol()
    {
        if (!_skipCloseNotify)
        {
            SendCloseNotify();
        }
    }

    /// <summary>Sends close_notify once.</summary>
    private void SendCloseNotify()
    {
        if (Interlocked.Exchange(ref _closeNotifySent, 1) == 0)
        {
            SendAlert((byte)AlertLevel.warning, (byte)AlertDescription.close_notify);
        }
    }

    public override void Abort(ConnectionAbortedException abortReason)
    {
        ArgumentNullException.ThrowIfNull(abortReason);
        if (_closing)
        {
            return;
        }

        _closing = true;
        _closeReason = abortReason.Message;
        _abortReason = abortReason;
        CloseProtocol();
        Volatile.Read(ref _datagrams)?.Shutdown();

        // A handshake between datagrams ends now (its socket is closing); read with a full fence, see ReceiveForHandshake.
        Interlocked.CompareExchange(ref _loopHandshake, null, null)?.OnConnectionAborted();

        // Closing the socket ends the receive loop, which then completes the input with the abort reason (the input
        // pipe's writer belongs to that loop); the send loop ends on the cancelled read.
        CloseSocket(Volatile.Read(ref _socket));
        CancelPendingSend();
        FireConnectionClosed();
    }

    /// <summary>Ends a connection that never reached the application (failed handshake, full accept queue, shutdown).</summary>
    public async Task AbortAndDisposeAsync(string reason)
    {
        Abort(new ConnectionAbortedException(reason));
        await DisposeAsync().ConfigureAwait(false);
    }

    public override async ValueTask DisposeAsync()
    {
        // Every caller waits for the one disposal: the listener's unbind may dispose a connection whose failed handshake
        // is disposing it already, and must not return before that is done.
        var disposal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (Interlocked.CompareExchange(ref _disposal, disposal, null) is { } first)
        {
            await first.Task.ConfigureAwait(false);
        }
        else
        {
            try
            {
                await DisposeCoreAsync().ConfigureAwait(false);
            }
            finally
            {
                disposal.SetResult();
            }
        }

        await base.DisposeAsync().ConfigureAwait(false);
    }

    private async Task DisposeCoreAsync()
    {
        // Started within this connection's own receive pass on this thread: which pass (0: not in one; see _passThread).
        int startedInPass = _passThread == Environment.CurrentManagedThreadId ? _passNumber : 0;

        // The application is done with the pipes: send what it wrote, then close_notify, then the socket.
        var sending = CompleteOutput();
        _inputReader.Complete();
        await sending.ConfigureAwait(false);

        if (!_closing)
        {
            _closing = true;
            CloseProtocol();
        }

        Volatile.Read(ref _datagrams)?.Shutdown();
        CloseSocket(Volatile.Read(ref _socket));
        await Volatile.Read(ref _receiveLoop).ConfigureAwait(false);

        // A processing pass queued at handshake completion may still be running. Unless this disposal began, and still
        // runs, within this connection's own receive pass on this thread (the application's read continued inline at
        // the pass's end and its handler returned): that pass holds the gate, and after the application returns it
        // reads no record and writes no input, so the end is done here rather than after the pass, from the thread
        // pool. A disposal begun elsewhere always waits, even if it goes on inline within a pass.
        bool inOwnPass = startedInPass != 0 && _passThread == Environment.CurrentManagedThreadId && _passNumber == startedInPass;
        if (!inOwnPass)
        {
            await _receiveProcessing.WaitAsync().ConfigureAwait(false);
        }

        try
        {
            CompleteInput(_abortReason);

            // No more records either way: the ciphers' native contexts go now, not with the finalizer.
            _records?.Dispose();
        }
        finally
        {
            if (!inOwnPass)
            {
                _receiveProcessing.Release();
            }
        }

        _owner.OnConnectionClosed(this);
        if (_establishedTimestamp != 0)
        {
            _metrics?.ConnectionEnded(_timeProvider.GetElapsedTime(_establishedTimestamp));
        }

        FireConnectionClosed();
        DtlsLog.ConnectionClosed(_logger, ConnectionId, RemoteEndPoint!, _closeReason, _timeProvider.GetElapsedTime(_createdTimestamp).TotalMilliseconds);
    }

    private void FireConnectionClosed()
    {
        if (Interlocked.Exchange(ref _connectionClosedFired, 1) != 0)
        {
            return;
        }

        // Nobody asked for the token yet (Kestrel's connection handlers often do not): nothing to cancel, and one who asks
        // later gets it cancelled (ConnectionClosed). Read after the exchange's full fence.
        if (Volatile.Read(ref _connectionClosedSource) is not { } closed)
        {
            return;
        }

        // Not inline: callbacks are the application's code, and we may hold locks or run on a socket completion.
        ThreadPool.UnsafeQueueUserWorkItem(static source =>
        {
            source.Cancel();
        }, closed, preferLocal: false);
    }

    byte[]? IDtlsPeerEvents.ReserveConnectionId() => _owner.ReserveConnectionId(this);

    T IDtlsPeerEvents.OffCpu<T>(Func<T> wait) => Volatile.Read(ref _datagrams)?.Slot is { } slot ? slot.OffCpu(wait) : wait();

    void IDtlsPeerEvents.OnAlertReceived(short alertLevel, short alertDescription)
    {
        if (alertDescription == AlertDescription.close_notify)
        {
            _peerSentCloseNotify = true;
        }
    }

    void IDtlsPeerEvents.OnAlertRaised(short alertLevel, short alertDescription, string? message, Exception? cause)
    {
        if (alertLevel == AlertLevel.fatal)
        {
            DtlsLog.ConnectionError(_logger, ConnectionId, RemoteEndPoint!, $"sending fatal alert {AlertDescription.GetText(alertDescription)}: {message}", cause);
        }
    }
}
