using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Org.BouncyCastle.Tls;

namespace SukatDtls.Transport.Internal;

/// <summary>Receiving: the peer socket's loop, datagrams forwarded by the listener, decryption into the input pipe.</summary>
internal sealed partial class DtlsConnection
{
    /// <summary>A datagram of this peer that reached the listening socket (it raced our <c>connect()</c>).</summary>
    public void OnForwardedDatagram(ReadOnlySpan<byte> datagram)
    {
        OnDatagram(datagram);
        if (IsEstablished)
        {
            // Not inline: this runs on the listener's loop, which must never wait for one connection.
            ThreadPool.UnsafeQueueUserWorkItem(static connection => _ = connection.ProcessReceivedAsync(), this, preferLocal: false);
        }
    }

    private void OnDatagram(ReadOnlySpan<byte> datagram)
    {
        if (IsEstablished && ClientHelloRecord.IsClientHello(datagram))
        {
            // BouncyCastle would drop it; it means the peer restarted on the same port.
            _owner.OnClientHelloFromEstablishedPeer(this, datagram);
            return;
        }

        long sequence = EstablishedRecordFilter.NotASingleApplicationRecord;
        if (IsEstablished && !_recordFilter.ShouldPass(datagram, out sequence))
        {
            // Junk, stale or replayed: it neither reaches BouncyCastle nor counts as the peer being alive.
            _metrics?.DatagramDropped("filtered");
            return;
        }

        Volatile.Write(ref _lastReceiveTimestamp, _timeProvider.GetTimestamp());
        if (IsEstablished)
        {
            Interlocked.Increment(ref _datagramsPassed);
        }

        if (!_datagrams.Enqueue(datagram, sequence))
        {
            _metrics?.DatagramDropped("queue_full");
        }
    }

    private async Task ReceiveLoopAsync()
    {
        var from = new SocketAddress(_peerAddress.Family, _peerAddress.Size);
        try
        {
            while (!_closing)
            {
                try
                {
                    // Wait for a datagram without holding a buffer (a zero-byte peek consumes nothing): an idle
                    // connection then costs no receive memory.
                    await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.Peek).ConfigureAwait(false);
                }
                catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
                {
                    // ICMP port unreachable for something we sent: the peer may be gone, or not yet listening.
                    // Reported once per ICMP, so no busy loop; the idle timeout ends a peer that is really gone.
                    Interlocked.Increment(ref _unreachableErrors);
                    continue;
                }

                await ReceiveAvailableAsync(from).ConfigureAwait(false);
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
            await _receiveProcessing.WaitAsync().ConfigureAwait(false);
            try
            {
                CompleteInput(_abortReason);
            }
            finally
            {
                _receiveProcessing.Release();
                _receiveLoopDone.TrySetResult();
            }
        }
    }

    /// <summary>Reads every datagram waiting on the socket (at least one), with a buffer rented for the batch.</summary>
    private async Task ReceiveAvailableAsync(SocketAddress from)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(MaxRecordDatagramSize);
        try
        {
            do
            {
                int received;
                try
                {
                    // Does not block: the peek saw a datagram, and only this loop reads the socket.
                    received = _socket.ReceiveFrom(buffer, SocketFlags.None, from);
                }
                catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
                {
                    Interlocked.Increment(ref _unreachableErrors);
                    continue;
                }

                if (!from.Equals(_peerAddress))
                {
                    // Between bind() and connect() the kernel may have put another peer's datagram here.
                    _owner.OnStrayDatagram(buffer.AsSpan(0, received), from);
                    continue;
                }

                OnDatagram(buffer.AsSpan(0, received));
                if (IsEstablished)
                {
                    await ProcessReceivedAsync().ConfigureAwait(false);
                }
            }
            while (!_closing && _socket.Available > 0);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Decrypts the queued datagrams into the input pipe (one caller at a time).</summary>
    private async Task ProcessReceivedAsync()
    {
        await _receiveProcessing.WaitAsync().ConfigureAwait(false);
        try
        {
            var dtls = Volatile.Read(ref _dtls);
            if (dtls is null || _inputCompleted)
            {
                return;
            }

            bool wrote = false;
            Exception? failure = null;
            byte[] record = ArrayPool<byte>.Shared.Rent(MaxRecordDatagramSize);
            try
            {
                lock (_protocolLock)
                {
                    try
                    {
                        // One pass per datagram, its receive limit set to the datagram's length: BouncyCastle
                        // allocates its record buffer per call by that limit (BeginReceivePass).
                        while (!_closing && !_datagrams.IsClosed && _datagrams.BeginReceivePass())
                        {
                            // waitMillis 1: BouncyCastle reads at least one datagram; when that yields no application
                            // data (a retransmission, an alert) it asks again and our empty queue answers "timeout".
                            int length = dtls.Receive(record, 0, record.Length, 1);
                            if (length >= 0)
                            {
                                // Delivered, so authenticated: the replay filter may now remember its sequence number.
                                _recordFilter.OnDelivered(_datagrams.LastTakenSequence);
                            }

                            while (length >= 0)
                            {
                                wrote |= Deliver(record.AsSpan(0, length));
                                length = dtls.ReceivePending(record, 0, record.Length);
                            }

                            // A datagram that yielded no application data within the 1 ms may have left records in
                            // BouncyCastle's own queue (a packed retransmitted flight: its CCS and Finished): process
                            // them now, not when the next datagram comes.
                            while ((length = dtls.ReceivePending(record, 0, record.Length)) >= 0)
                            {
                                wrote |= Deliver(record.AsSpan(0, length));
                            }
                        }
                    }
                    finally
                    {
                        _datagrams.EndReceivePass();
                    }
                }
            }
            catch (Exception ex)
            {
                failure = ex;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(record);
            }

            if (wrote)
            {
                var flush = await _input.Writer.FlushAsync().ConfigureAwait(false);
                if (flush.IsCompleted)
                {
                    // The application stopped reading; later records have nowhere to go.
                    return;
                }
            }

            if (_peerSentCloseNotify)
            {
                OnPeerClosed();
            }
            else if (failure is not null && !_closing)
            {
                string reason = failure is TlsFatalAlertReceived received
                    ? $"the peer sent a fatal alert ({AlertDescription.GetText(received.AlertDescription)})"
                    : $"the DTLS record layer failed ({failure.Message})";
                DtlsLog.ConnectionError(_logger, ConnectionId, RemoteEndPoint!, reason, failure);
                Abort(new ConnectionAbortedException("The DTLS connection failed: " + reason, failure));
            }
        }
        finally
        {
            _receiveProcessing.Release();
        }
    }

    /// <returns>Whether bytes were written to the input pipe.</returns>
    private bool Deliver(ReadOnlySpan<byte> record)
    {
        // Zero-length application records carry nothing for either view; they are legal and ignored.
        if (record.IsEmpty)
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

    private void OnPeerClosed()
    {
        if (_closing)
        {
            return;
        }

        _closing = true;
        _closeReason = "the peer sent close_notify";

        // BouncyCastle has answered with its own close_notify and closed the transport: both directions are done.
        // The input ends normally (EOF), as a TCP FIN would end it.
        CompleteInput(null);
        _output.Reader.CancelPendingRead();
        FireConnectionClosed();
    }
}
