using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Org.BouncyCastle.Tls;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// Receiving: the peer socket's loop, datagrams forwarded by the listener, and the records of each datagram through the
/// record layer into the input pipe.
/// </summary>
internal sealed partial class DtlsConnection : IHandshakeSocketEvents, IPeerDatagramReceiver
{
    // How many datagrams one pass reads before the input pipe is flushed (and the application woken).
    private const int DatagramsPerPass = 64;

    /// <summary>
    /// A datagram for this connection that reached the listening socket: from the peer's address (it raced our
    /// <c>connect()</c>; <paramref name="from"/> null), or from another address with this connection's Connection ID
    /// (the peer may have moved; <paramref name="from"/> is where it came from).
    /// </summary>
    public void OnForwardedDatagram(ReadOnlySpan<byte> datagram, SocketAddress? from = null)
    {
        if (!IsEstablished)
        {
            if (from is not null)
            {
                return;
            }

            if (Volatile.Read(ref _loopHandshake) is null)
            {
                Volatile.Read(ref _datagrams)?.Enqueue(datagram);
                return;
            }

            // A handshake between datagrams takes it on the receive path, below.
        }

        // Not inline: this runs on the listener's loop, which must never wait for one connection.
        byte[] copy = ArrayPool<byte>.Shared.Rent(datagram.Length);
        datagram.CopyTo(copy);
        var queued = new List<(byte[], int, int)> { (copy, 0, datagram.Length) };
        ThreadPool.UnsafeQueueUserWorkItem(static state => _ = state.Connection.ProcessQueuedAsync(state.Queued, state.From),
            (Connection: this, Queued: queued, From: from?.Clone()), preferLocal: false);
    }

    /// <summary>
    /// Starts receiving from <paramref name="socket"/> (once the handshake is done, and for each new socket after a
    /// move): on a receive loop of <see cref="PeerReceiveEngine"/>, or where it cannot run, with .NET's socket engine.
    /// The task ends when receiving from that socket has ended.
    /// </summary>
    private Task StartReceiving(Socket socket) =>
        _receiveEngine is null ? ReceiveLoopAsync(socket) : ReceiveOnEngineAsync(_receiveEngine, socket);

    /// <summary>Closes <paramref name="socket"/>, taking it off its receive loop first.</summary>
    private void CloseSocket(Socket socket)
    {
        socket.Dispose();

        // A full fence (the exchange) between the caller's _closing/_detached write and this read; the registering
        // side fences the other way, so one of the two stops the registration.
        var registration = Interlocked.CompareExchange(ref _registration, null, null);
        if (registration is not null && ReferenceEquals(registration.Socket, socket))
        {
            registration.Stop();
        }
    }

    /// <summary>Receives from <paramref name="socket"/> on a loop of <paramref name="engine"/> until the registration stops.</summary>
    private async Task ReceiveOnEngineAsync(PeerReceiveEngine engine, Socket socket)
    {
        try
        {
            await engine.ReceiveUntilStoppedAsync(socket, this).ConfigureAwait(false);
        }
        finally
        {
            // Here on the thread that stopped the registration. The disposal stopped it (or will not return before it
            // ends the input itself): nothing is left to do, and this task completes at once, so the disposal goes on
            // without a hop. Any other stop — an abort, a move, the loop — may come from under its caller's locks or
            // from within a receive pass: the input ends from the thread pool.
            if (Volatile.Read(ref _disposal) is null)
            {
                await Task.Yield();
                await EndReceivingAsync(socket).ConfigureAwait(false);
            }
        }
    }

    bool IPeerDatagramReceiver.OnRegistered(PeerReceiveRegistration registration)
    {
        Interlocked.Exchange(ref _registration, registration);
        return _closing || registration.Socket.SafeHandle.IsClosed;
    }

    /// <summary>
    /// The peer socket is readable (on its receive loop's thread): reads every datagram waiting, up to
    /// <see cref="DatagramsPerPass"/>, decrypts their records in place and flushes the input pipe once. A pass that
    /// cannot finish without waiting (the gate is held by a forwarded datagram's pass, or the application is behind)
    /// pauses the registration and finishes on the thread pool.
    /// </summary>
    void IPeerDatagramReceiver.OnReadable(PeerReceiveRegistration registration, DatagramBatch batch)
    {
        if (_closing || _inputCompleted)
        {
            registration.Stop();
            return;
        }

        if (!_receiveProcessing.Wait(0))
        {
            registration.Pause();
            _ = ResumeAfterGateAsync(registration);
            return;
        }

        _passThread = Environment.CurrentManagedThreadId;
        _passNumber = _passNumber == int.MaxValue ? 1 : _passNumber + 1;
        bool handedOff = false;
        try
        {
            bool wrote = false;
            int datagrams = 0;
            int errors = 0;
            while (!_closing && datagrams < DatagramsPerPass)
            {
                int received = batch.Receive(registration.Handle, out SocketError error);
                if (received < 0)
                {
                    if (IsIcmpReport(error) && ++errors <= DatagramsPerPass)
                    {
                        // Reported once per ICMP, so this ends; see ReceiveLoopAsync.
                        OnUnreachable(error);
                        continue;
                    }

                    throw new SocketException((int)error);
                }

                for (int i = 0; i < received; i++)
                {
                    if (batch.IsTruncated(i))
                    {
                        // Longer than any record we accept: the rest of it is gone, so it cannot authenticate.
                        Interlocked.Increment(ref _datagramsDropped);
                        _metrics?.DatagramDropped("filtered");
                    }
                    else if (!batch.CameFrom(i, _socketPeerAddress))
                    {
                        // Between bind() and connect() the kernel may have put another peer's datagram here.
                        _owner.OnStrayDatagram(batch.Datagram(i), batch.SourceAddress(i, _socketPeerAddress.Family).InFamily(_peerAddress.Family));
                    }
                    else
                    {
                        wrote |= OnDatagram(batch.Datagram(i));
                    }
                }

                datagrams += received;
                if (received < batch.Capacity)
                {
                    // Nothing more was waiting; what arrives from now on wakes the loop again.
                    break;
                }
            }

            if (wrote && !_inputCompleted)
            {
                var flush = _input.Writer.FlushAsync();
                if (!flush.IsCompleted)
                {
                    // The application is behind: wait for it off the loop's thread, and stop reading meanwhile (the
                    // kernel buffers, then drops, as UDP does).
                    registration.Pause();
                    handedOff = true;
                    _ = FinishFlushAsync(flush, registration);
                    return;
                }

                if (flush.Result.IsCompleted)
                {
                    // The application stopped reading: later records have nowhere to go.
                    registration.Stop();
                    return;
                }
            }

            if (_peerSentCloseNotify)
            {
                OnPeerClosed();
            }

            if (_closing)
            {
                registration.Stop();
            }
        }
        catch (ObjectDisposedException)
        {
            // The socket was closed: the connection is ending, and whoever closed it stops the registration.
            registration.Stop();
        }
        finally
        {
            _passThread = 0;
            if (!handedOff)
            {
                _receiveProcessing.Release();
            }
        }
    }

    void IPeerDatagramReceiver.OnReceiveFailed(Exception error)
    {
        DtlsLog.ConnectionError(_logger, ConnectionId, RemoteEndPoint!, "receiving failed", error);
        Abort(new ConnectionAbortedException("Receiving from the peer's socket failed.", error));
    }

    /// <summary>A pass found the gate held (a forwarded datagram's pass): the loop reads again once it is free.</summary>
    private async Task ResumeAfterGateAsync(PeerReceiveRegistration registration)
    {
        await _receiveProcessing.WaitAsync().ConfigureAwait(false);
        _receiveProcessing.Release();
        registration.Resume();
    }

    /// <summary>Finishes a pass whose flush waits for the application (the pass's gate is held until then).</summary>
    private async Task FinishFlushAsync(ValueTask<FlushResult> flush, PeerReceiveRegistration registration)
    {
        bool receiving;
        try
        {
            receiving = !(await flush.ConfigureAwait(false)).IsCompleted;
            if (receiving && _peerSentCloseNotify)
            {
                OnPeerClosed();
            }
        }
        catch (Exception ex) when (ex is ObjectDisposedException or InvalidOperationException or OperationCanceledException)
        {
            // The connection ended meanwhile.
            receiving = false;
        }
        finally
        {
            _receiveProcessing.Release();
        }

        if (receiving && !_closing)
        {
            registration.Resume();
        }
        else
        {
            registration.Stop();
        }
    }

    /// <summary>Receives from <paramref name="socket"/> with .NET's socket engine until it closes (the connection ends, or it lost its address).</summary>
    private async Task ReceiveLoopAsync(Socket socket)
    {
        var from = new SocketAddress(socket.AddressFamily);
        try
        {
            while (!_closing)
            {
                try
                {
                    // Wait for a datagram without holding a buffer (a zero-byte peek consumes nothing): an idle
                    // connection then costs no receive memory.
                    await socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.Peek).ConfigureAwait(false);
                }
                catch (SocketException ex) when (IsIcmpReport(ex.SocketErrorCode))
                {
                    // ICMP port unreachable for something we sent: the peer may be gone, or not yet listening.
                    // Reported once per ICMP, so no busy loop; the idle timeout ends a peer that is really gone, and a
                    // client's handshake a server that is not there (HandshakeTransport.Unreachable.cs).
                    OnUnreachable(ex.SocketErrorCode);
                    continue;
                }

                if (!await ReceiveAvailableAsync(socket, from).ConfigureAwait(false))
                {
                    // The application stopped reading: later records have nowhere to go.
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is ObjectDisposedException or OperationCanceledException
            || ex is SocketException { SocketErrorCode: SocketError.OperationAborted or SocketError.Interrupted or SocketError.Shutdown })
        {
            // The socket was closed: the connection is ending.
        }
        catch (Exception ex)
        {
            DtlsLog.ConnectionError(_logger, ConnectionId, RemoteEndPoint!, "receiving failed", ex);
            Abort(new ConnectionAbortedException("Receiving from the peer's socket failed.", ex));
        }
        finally
        {
            await EndReceivingAsync(socket).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Receiving from <paramref name="socket"/> ended: the input ends with it, unless the connection lives on without
    /// that socket.
    /// </summary>
    private async Task EndReceivingAsync(Socket socket)
    {
        // A socket closed because another connection took the address (Migration) ends only its receiving: the
        // connection lives on, reachable by its Connection ID, until it moves or times out. So does a socket the
        // connection has replaced meanwhile (it moved to a new one before this loop saw its old one close; the
        // move writes the new socket before it clears _detached, so one of the two checks sees it).
        if (!IsDetached(socket) && ReferenceEquals(socket, Volatile.Read(ref _socket)))
        {
            await _receiveProcessing.WaitAsync().ConfigureAwait(false);
            try
            {
                CompleteInput(_abortReason);
            }
            finally
            {
                _receiveProcessing.Release();
            }
        }
    }

    /// <summary>
    /// Reads every datagram waiting on the socket (at least one, at most <see cref="DatagramsPerPass"/>) with a buffer
    /// rented for the pass, then flushes the input pipe once. False when the application stopped reading.
    /// </summary>
    private async Task<bool> ReceiveAvailableAsync(Socket socket, SocketAddress from)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(MaxRecordDatagramSize);
        await _receiveProcessing.WaitAsync().ConfigureAwait(false);
        try
        {
            bool wrote = false;
            int datagrams = 0;
            do
            {
                int received;
                try
                {
                    // Does not block: the peek saw a datagram, and only this loop reads the socket.
                    received = socket.ReceiveFrom(buffer, SocketFlags.None, from);
                }
                catch (SocketException ex) when (IsIcmpReport(ex.SocketErrorCode))
                {
                    OnUnreachable(ex.SocketErrorCode);
                    continue;
                }

                if (!from.Equals(_socketPeerAddress))
                {
                    // Between bind() and connect() the kernel may have put another peer's datagram here.
                    _owner.OnStrayDatagram(buffer.AsSpan(0, received), from.InFamily(_peerAddress.Family));
                    continue;
                }

                wrote |= OnDatagram(buffer.AsSpan(0, received));
            }
            while (!_closing && ++datagrams < DatagramsPerPass && socket.Available > 0);

            return await FlushInputAsync(wrote).ConfigureAwait(false);
        }
        finally
        {
            _receiveProcessing.Release();
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Whether a socket error is an ICMP destination unreachable report (port unreachable, a firewall's reject, no
    /// route), which the loop counts and goes on after: it is unauthenticated and anyone who knows the peer's address
    /// and port can forge it, so it never ends an established connection or a server's handshake; during a client's
    /// handshake its transport weighs it (a report confirmed by a resend ends the handshake). Any other error ends the
    /// connection.
    /// </summary>
    private static bool IsIcmpReport(SocketError error) => HandshakeTransport.IsUnreachable(error);

    /// <summary>
    /// The socket reported ICMP destination unreachable: counted (by the receive loop once established; during the
    /// handshake by the handshake thread, which reads the socket then and weighs the report itself).
    /// </summary>
    private void OnUnreachable(SocketError error) => Interlocked.Increment(ref _unreachableErrors);

    void IHandshakeSocketEvents.OnUnreachableReported(SocketError error) => OnUnreachable(error);

    void IHandshakeSocketEvents.OnStrayDatagram(ReadOnlySpan<byte> datagram, SocketAddress from) =>
        _owner.OnStrayDatagram(datagram, from.InFamily(_peerAddress.Family));

    /// <summary>Processes datagrams taken from elsewhere (the handshake's queue, the listener), returning their buffers.</summary>
    /// <param name="queued">The datagrams.</param>
    /// <param name="from">Where they came from when not from the peer's current address (routed by Connection ID).</param>
    private async Task ProcessQueuedAsync(List<(byte[] Buffer, int Offset, int Length)> queued, SocketAddress? from = null)
    {
        await _receiveProcessing.WaitAsync().ConfigureAwait(false);
        try
        {
            bool wrote = false;
            foreach (var (buffer, offset, length) in queued)
            {
                if (!_inputCompleted && !_closing)
                {
                    wrote |= OnDatagram(buffer.AsSpan(offset, length), from);
                }
            }

            await FlushInputAsync(wrote).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ObjectDisposedException or InvalidOperationException)
        {
            // The connection ended meanwhile.
        }
        finally
        {
            _receiveProcessing.Release();
            foreach (var (buffer, _, _) in queued)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>Flushes what the pass wrote (callers hold <see cref="_receiveProcessing"/>). False when the application stopped reading.</summary>
    private async ValueTask<bool> FlushInputAsync(bool wrote)
    {
        if (wrote && !_inputCompleted)
        {
            var flush = await _input.Writer.FlushAsync().ConfigureAwait(false);
            if (flush.IsCompleted)
            {
                return false;
            }
        }

        if (_peerSentCloseNotify)
        {
            OnPeerClosed();
        }

        return true;
    }

    /// <summary>
    /// One datagram from the peer (callers hold <see cref="_receiveProcessing"/>): for the handshake while it runs, then
    /// through the record layer, in place. Returns whether bytes were written to the input pipe.
    /// </summary>
    /// <param name="datagram">The datagram; decrypted in place.</param>
    /// <param name="from">Where it came from when that is not the peer's current address (routed by Connection ID).</param>
    private bool OnDatagram(Span<byte> datagram, SocketAddress? from = null)
    {
        var records = Volatile.Read(ref _records);
        if (records is null && Volatile.Read(ref _loopHandshake) is { } handshake)
        {
            // During our handshake between datagrams: its records; what follows the client's Finished, the record layer's.
            int used = handshake.OnDatagram(datagram);
            records = Volatile.Read(ref _records);
            if (records is null || used >= datagram.Length)
            {
                return false;
            }

            datagram = datagram[used..];
        }

        if (records is null)
        {
            // During the handshake: BouncyCastle's. A full queue drops, as a full socket buffer would; a closed one
            // means the handshake just ended (the record layer is set by then) or the connection is going away.
            if (Volatile.Read(ref _datagrams) is { } datagrams && datagrams.Enqueue(datagram))
            {
                return false;
            }

            records = Volatile.Read(ref _records);
            if (records is null)
            {
                _metrics?.DatagramDropped("handshake_queue_full");
                return false;
            }
        }

        if (ClientHelloRecord.IsClientHello(datagram))
        {
            // The peer restarted on the same address and port (RFC 6347 §4.2.8): the listener decides.
            _owner.OnClientHelloFromEstablishedPeer(this, datagram);
            return false;
        }

        if (from is null && IsForeignConnectionIdRecord(datagram, records))
        {
            // Another connection's peer now has our peer's old address and port (a NAT gave it out again): the kernel
            // hands its records to our socket. Its Connection ID names its connection: the listener routes it there.
            Interlocked.Increment(ref _datagramsDropped);
            _owner.OnStrayDatagram(datagram, _peerAddress);
            return false;
        }

        bool wrote = false;
        bool authenticated = false;
        bool mayMove = false;
        int offset = 0;
        while (true)
        {
            var kind = records.ReadNext(datagram, ref offset, out int plaintextOffset, out int plaintextLength);
            switch (kind)
            {
                case RecordReadKind.End:
                    if (authenticated)
                    {
                        // Only a record that authenticated is a sign of life: forgeries from the peer's address are not.
                        Volatile.Write(ref _lastReceiveTimestamp, _timeProvider.GetTimestamp());
                        Interlocked.Increment(ref _datagramsAccepted);
                        if (from is null)
                        {
                            OnAuthenticatedOnCurrentPath(datagram.Length);
                        }
                        else if (mayMove && !from.Equals(_peerAddress))
                        {
                            MoveTo(from, datagram.Length);
                        }
                    }
                    else
                    {
                        Interlocked.Increment(ref _datagramsDropped);
                    }

                    return wrote;
                case RecordReadKind.ApplicationData:
                    authenticated = true;
                    mayMove |= records.LastRecordWasNewest && !records.ReadConnectionId.IsEmpty;
                    if (!_peerSentCloseNotify)
                    {
                        wrote |= Deliver(datagram.Slice(plaintextOffset, plaintextLength));
                    }

                    break;
                case RecordReadKind.Alert:
                    authenticated = true;
                    mayMove |= records.LastRecordWasNewest && !records.ReadConnectionId.IsEmpty;
                    OnAlert(datagram[plaintextOffset], datagram[plaintextOffset + 1]);
                    break;
                case RecordReadKind.PeerRetransmittedFlight:
                    authenticated = true;
                    ResendFinalFlight(records);
                    break;
                case RecordReadKind.Unexpected:
                    authenticated = true;
                    _metrics?.DatagramDropped("unexpected_record");
                    break;
                default:
                    // Malformed, plaintext (epoch 0), replayed or forged: dropped, never fatal (RFC 6347 §4.1.2.7).
                    _metrics?.DatagramDropped(kind == RecordReadKind.Replay ? "replay" : "filtered");
                    break;
            }
        }
    }

    /// <summary>An authenticated alert from the peer: close_notify ends its sending side; a fatal one, the connection.</summary>
    private void OnAlert(byte level, byte description)
    {
        if (description == AlertDescription.close_notify)
        {
            _peerSentCloseNotify = true;
            return;
        }

        if (level == AlertLevel.fatal)
        {
            string reason = $"the peer sent a fatal alert ({AlertDescription.GetText(description)})";
            DtlsLog.ConnectionError(_logger, ConnectionId, RemoteEndPoint!, reason, null);
            Abort(new ConnectionAbortedException("The DTLS connection failed: " + reason));
        }
    }

    /// <returns>Whether bytes were written to the input pipe.</returns>
    private bool Deliver(ReadOnlySpan<byte> record)
    {
        // Zero-length application records carry nothing for either view; they are legal and ignored.
        if (record.IsEmpty || _inputCompleted)
        {
            return false;
        }

        if (!_boundaries.TryAdd(record.Length))
        {
            // The application is more than RecordBoundaries.Capacity records behind: drop, as a full socket would.
            _metrics?.DatagramDropped("application_behind");
            return false;
        }

        _input.Writer.Write(record);
        _metrics?.RecordReceived(record.Length);
        return true;
    }

    /// <summary>Completes the input pipe's writer once; callers hold <see cref="_receiveProcessing"/>.</summary>
    private void CompleteInput(Exception? error)
    {
        if (!_inputCompleted)
        {
            _inputCompleted = true;
            _input.Writer.Complete(error);
        }
    }

    /// <summary>The peer sent close_notify: answer with ours (RFC 5246 §7.2.1), and end the input normally (EOF).</summary>
    private void OnPeerClosed()
    {
        if (_closing)
        {
            return;
        }

        SendCloseNotify();
        _closing = true;
        _closeReason = "the peer sent close_notify";

        // Both directions are done. The input ends normally (EOF), as a TCP FIN would end it.
        CompleteInput(null);
        CancelPendingSend();
        FireConnectionClosed();
    }
}
