using System.Buffers;
using System.Net;
using System.Net.Sockets;

namespace SukatDtls.Transport.Internal;

/// <summary>The socket side of the transport: what the handshake thread reads from and sends on the peer's socket.</summary>
internal sealed partial class HandshakeTransport
{
    // At most this many datagrams are read from the socket per wake-up: a flight, with room to spare.
    private const int DatagramsPerRead = 16;

    // The connection: strays and ICMP reports the handshake thread reads on the socket go to it; and the peer's
    // address, to tell strays apart (null: every source is the peer's). Set before the handshake starts.
    private IHandshakeSocketEvents? _events;
    private SocketAddress? _peerAddress;

    /// <summary>Tells the transport whose socket it reads: the connection, and the peer's address.</summary>
    public void Attach(IHandshakeSocketEvents events, SocketAddress peerAddress)
    {
        _events = events;
        _peerAddress = peerAddress;
    }

    /// <summary>
    /// On the handshake thread, outside the lock: waits up to <paramref name="timeoutMillis"/> for the socket to have a
    /// datagram (or an ICMP report, or to close: disposing the socket wakes the wait), then queues every datagram
    /// waiting, at most <see cref="DatagramsPerRead"/>. Nothing else reads the socket during the handshake.
    /// </summary>
    private void ReadSocket(int timeoutMillis)
    {
        byte[]? buffer = null;
        try
        {
            if (!SocketPoll.WaitReadable(_socket, timeoutMillis))
            {
                return;
            }

            var from = _peerAddress is null ? null : new SocketAddress(_peerAddress.Family, _peerAddress.Size);
            for (int read = 0; read < DatagramsPerRead && !Volatile.Read(ref _closed); read++)
            {
                if (read > 0 && _socket.Available == 0)
                {
                    return;
                }

                // Reused after a stray or an ICMP report; a queued datagram keeps its buffer, so the next one rents anew.
                buffer ??= ArrayPool<byte>.Shared.Rent(DtlsConnection.MaxRecordDatagramSize);
                int received;
                try
                {
                    // Does not block: poll() saw a datagram or a report, and only this thread reads the socket.
                    received = from is null ? _socket.Receive(buffer) : _socket.ReceiveFrom(buffer, SocketFlags.None, from);
                }
                catch (SocketException ex) when (IsUnreachable(ex.SocketErrorCode))
                {
                    // An ICMP report, once: counted by the connection, weighed here (a client's handshake may end).
                    _events?.OnUnreachableReported(ex.SocketErrorCode);
                    OnUnreachable(ex.SocketErrorCode);
                    continue;
                }

                if (from is not null && !from.Equals(_peerAddress))
                {
                    _events?.OnStrayDatagram(buffer.AsSpan(0, received), from);
                    continue;
                }

                // Seen before BouncyCastle asks for it: its next receive buffer is large enough (HandshakeReceiveLimit).
                _receiveLimit.Learn(received);
                byte[] datagram = buffer;
                buffer = null;
                EnqueueRented(datagram, received);
            }
        }
        catch (ObjectDisposedException ex)
        {
            // The connection is going away (aborted, evicted, the listener unbound): disposing the socket woke poll().
            throw new IOException("The DTLS connection's socket is closed.", ex);
        }
        catch (SocketException ex)
        {
            // Not an ICMP report: the socket is broken, and waiting on it again would only spin.
            throw new IOException($"Receiving from the peer's socket failed: {ex.SocketErrorCode}.", ex);
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>Sends one datagram on the handshake thread: a flight's, or a resend to confirm an ICMP report.</summary>
    private void SendToPeer(ReadOnlySpan<byte> datagram)
    {
        if (Volatile.Read(ref _closed))
        {
            return;
        }

        bool confirming = OnDatagramLeaving();
        try
        {
            _socket.Send(datagram, SocketFlags.None);
            Interlocked.Increment(ref _datagramsSent);
            _firstDatagramSent?.TrySetResult();
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.MessageSize)
        {
            // The path MTU is smaller than our limit (fragmentation is forbidden, so the kernel said so instead of
            // splitting the datagram): lower the limit; BouncyCastle cuts the flight anew when it resends it.
            int lower = Math.Min(DatagramSizes.PathPayload(_socket) ?? datagram.Length * 3 / 4, datagram.Length - 1);
            _sendLimit = Math.Max(DatagramSizes.Minimum, Math.Min(_sendLimit, lower));
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused
            || (_unreachableEndsHandshake && IsUnreachable(ex.SocketErrorCode)))
        {
            // An ICMP destination unreachable left by an earlier datagram, reported here instead of to the receive loop
            // (the kernel reports each once, to whichever call comes first). This datagram did not leave; retransmission
            // deals with that, as with a loss. For a client it may mean the server cannot be reached.
            OnSendUnreachable(ex.SocketErrorCode, confirming);
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.NoBufferSpaceAvailable or SocketError.WouldBlock)
        {
            // A momentarily full send buffer: the datagram is lost as it could be on the network.
        }
        catch (ObjectDisposedException ex)
        {
            throw new IOException("The DTLS connection's socket is closed.", ex);
        }
    }
}
