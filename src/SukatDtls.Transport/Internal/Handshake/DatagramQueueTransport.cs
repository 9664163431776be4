using System.Buffers;
using System.Net.Sockets;
using Org.BouncyCastle.Tls;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The <see cref="DatagramTransport"/> that BouncyCastle reads from and writes to for one peer. Datagrams are pushed
/// in by our async socket loops (the peer's own connected socket, and the listener for datagrams that raced the
/// <c>connect()</c>) and pulled out by BouncyCastle; sends go straight to the connected socket.
/// </summary>
/// <remarks>
/// <para>
/// During the handshake BouncyCastle runs on a dedicated handshake thread and <see cref="Receive(Span{byte}, int)"/>
/// blocks there until a datagram arrives or its wait ends. Once established (<see cref="SwitchToNonBlocking"/>),
/// BouncyCastle is only called when a datagram is queued, and an empty queue answers "timed out" at once so that no
/// thread ever waits in it.
/// </para>
/// <para>
/// While the handshake blocks for the peer's next flight, the handshake's <see cref="Slot"/> hears of it: its CPU pass
/// goes to another handshake and the scheduler may evict it; when a datagram comes it waits for a pass again.
/// </para>
/// <para>
/// Flight packing: BouncyCastle hands each handshake record to <see cref="Send(ReadOnlySpan{byte})"/> on its own. During the
/// handshake the records are gathered into one datagram while they fit the send limit, and the datagram leaves when
/// the next record would not fit, when BouncyCastle turns to receiving (the flight is complete), or at
/// <see cref="Flush"/> (the handshake ended after sending). A flight thus takes as many datagrams as OpenSSL's, and a
/// lost flight is resent whole by BouncyCastle's retransmission, packed the same way.
/// </para>
/// <para>The queue is bounded; datagrams beyond it are dropped, as a full socket buffer would.</para>
/// </remarks>
internal sealed class DatagramQueueTransport : DatagramTransport
{
    private readonly Socket _socket;
    private readonly int _receiveLimit;
    private volatile int _sendLimit;
    private int _oversizedSend;
    private long _datagramsSent;
    private readonly int _capacity;
    private readonly Queue<(byte[] Buffer, int Length, long Sequence)> _queue;
    // A monitor (not System.Threading.Lock): the handshake thread waits on it with Monitor.Wait.
    private readonly object _lock = new();
    private bool _blocking = true;
    private bool _closed;
    private int _passLengthLimit = int.MaxValue;

    // The flight being packed (handshake thread only): records gathered into one datagram until it is sent.
    private byte[]? _packed;
    private int _packedLength;

    public DatagramQueueTransport(Socket socket, int receiveLimit, int sendLimit, int capacity)
    {
        _socket = socket;
        _receiveLimit = receiveLimit;
        _sendLimit = sendLimit;
        _capacity = capacity;
        // Grows on demand up to the capacity: preallocating it cost every idle connection 1.5 KiB.
        _queue = new Queue<(byte[], int, long)>();
    }

    public bool HasQueuedDatagrams
    {
        get
        {
            lock (_lock)
            {
                return _queue.Count > 0;
            }
        }
    }

    /// <summary>The handshake's place in the scheduler, told when the handshake waits for the peer and when it answered.</summary>
    public HandshakeSlot? Slot { get; set; }

    /// <summary>Datagrams sent (packed flights count once): what the peer and the network see.</summary>
    public long DatagramsSent => Interlocked.Read(ref _datagramsSent);

    /// <summary>BouncyCastle closed the transport (after sending or answering close_notify, or on failure).</summary>
    public bool IsClosed => Volatile.Read(ref _closed);

    /// <summary>
    /// The tag given to <see cref="Enqueue"/> for the datagram BouncyCastle took last (the sequence number of its single
    /// application record, or -1).
    /// </summary>
    public long LastTakenSequence { get; private set; } = EstablishedRecordFilter.NotASingleApplicationRecord;

    /// <summary>Queues a copy of <paramref name="datagram"/>. Returns false when the queue is full or closed.</summary>
    public bool Enqueue(ReadOnlySpan<byte> datagram, long sequence = EstablishedRecordFilter.NotASingleApplicationRecord)
    {
        byte[] copy = ArrayPool<byte>.Shared.Rent(datagram.Length);
        datagram.CopyTo(copy);
        lock (_lock)
        {
            if (!_closed && _queue.Count < _capacity)
            {
                _queue.Enqueue((copy, datagram.Length, sequence));
                Monitor.Pulse(_lock);
                return true;
            }
        }

        ArrayPool<byte>.Shared.Return(copy);
        return false;
    }

    /// <summary>
    /// Once established, before each <c>DtlsTransport.Receive</c>: whether a datagram is queued. If so, until
    /// <see cref="EndReceivePass"/> <see cref="GetReceiveLimit"/> reports the first queued datagram's length and
    /// <c>Receive</c> hands out no longer datagram (a longer one waits for the next pass).
    /// </summary>
    /// <remarks>
    /// BouncyCastle's <c>DtlsTransport.Receive</c> allocates its record buffer per call, sized by our receive limit
    /// (~17 KiB): reporting the datagram's own length makes a 1,000-byte record cost a 1 KiB array instead of 17 KiB.
    /// BouncyCastle may take further datagrams in the same call into the same buffer; the length rule guarantees each
    /// fits (a longer one would be truncated and lost).
    /// </remarks>
    public bool BeginReceivePass()
    {
        lock (_lock)
        {
            if (_queue.TryPeek(out var head))
            {
                _passLengthLimit = head.Length;
                return true;
            }

            _passLengthLimit = int.MaxValue;
            return false;
        }
    }

    /// <summary>Ends what <see cref="BeginReceivePass"/> started: the full receive limit applies again.</summary>
    public void EndReceivePass()
    {
        lock (_lock)
        {
            _passLengthLimit = int.MaxValue;
        }
    }

    /// <summary>From now on, an empty queue makes <c>Receive</c> return at once, and every record leaves at once.</summary>
    public void SwitchToNonBlocking()
    {
        EndHandshake();
        lock (_lock)
        {
            _blocking = false;
        }
    }

    /// <summary>Sends the flight packed so far (the handshake ended after sending: its last flight, or an alert).</summary>
    public void Flush()
    {
        if (_packedLength > 0)
        {
            int length = _packedLength;
            _packedLength = 0;
            SendDatagram(_packed.AsSpan(0, length));
        }
    }

    /// <summary>
    /// On the handshake thread when the handshake ended, done or failed: the last flight or alert leaves, and the
    /// packing buffer goes back to the pool.
    /// </summary>
    public void EndHandshake()
    {
        Flush();
        ReturnPackBuffer();
        Slot = null;
    }

    private void ReturnPackBuffer()
    {
        if (_packed is { } buffer)
        {
            _packed = null;
            _packedLength = 0;
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Wakes a blocked handshake and makes every later call fail: the connection is going away.</summary>
    public void Shutdown()
    {
        lock (_lock)
        {
            _closed = true;
            while (_queue.TryDequeue(out var item))
            {
                ArrayPool<byte>.Shared.Return(item.Buffer);
            }

            Monitor.PulseAll(_lock);
        }
    }

    public int GetReceiveLimit()
    {
        int passLimit = Volatile.Read(ref _passLengthLimit);
        return passLimit < _receiveLimit ? passLimit : _receiveLimit;
    }

    public int GetSendLimit() => _sendLimit;

    /// <summary>
    /// True (once) when the last send was refused as too large for the path: the caller must send that data again,
    /// cut to the new, lower <see cref="GetSendLimit"/>.
    /// </summary>
    public bool TakeOversizedSend() => Interlocked.Exchange(ref _oversizedSend, 0) == 1;

    public int Receive(byte[] buf, int off, int len, int waitMillis) => Receive(buf.AsSpan(off, len), waitMillis);

    public int Receive(Span<byte> buffer, int waitMillis)
    {
        (byte[] Buffer, int Length, long Sequence) item;
        bool waitedForPeer = false;
        if (Volatile.Read(ref _blocking))
        {
            // BouncyCastle turns to receiving: the flight it wrote is complete.
            Flush();
        }

        lock (_lock)
        {
            while (true)
            {
                if (_closed)
                {
                    // Returning -1 here would make BouncyCastle spin on a dead transport.
                    throw new IOException("The DTLS connection was closed.");
                }

                if (!_blocking)
                {
                    // Established: never wait, and never hand out more than the caller's pass can hold.
                    if (_queue.TryPeek(out item) && item.Length <= _passLengthLimit)
                    {
                        _queue.Dequeue();
                        break;
                    }

                    return -1;
                }

                if (_queue.TryDequeue(out item))
                {
                    break;
                }

                if (!waitedForPeer)
                {
                    // Nothing to compute until the peer answers: give the CPU pass to another handshake.
                    Slot?.WaitForPeer();
                    waitedForPeer = true;
                }

                // waitMillis == 0 means "wait forever" in BouncyCastle's contract; the handshake timeout bounds it.
                if (!Monitor.Wait(_lock, waitMillis == 0 ? Timeout.Infinite : waitMillis))
                {
                    // BouncyCastle resends its flight (cheap: no pass needed) and waits again, still for the peer.
                    return -1;
                }
            }
        }

        if (waitedForPeer)
        {
            // The peer answered: compute again once a pass is free (outside the lock: enqueues must not wait for it).
            Slot?.PeerAnswered();
        }

        LastTakenSequence = item.Sequence;
        try
        {
            // A datagram larger than the caller's buffer is truncated, as recv() truncates; the record layer then
            // rejects the broken record.
            int length = Math.Min(item.Length, buffer.Length);
            item.Buffer.AsSpan(0, length).CopyTo(buffer);
            return length;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(item.Buffer);
        }
    }

    public void Send(byte[] buf, int off, int len) => Send(buf.AsSpan(off, len));

    public void Send(ReadOnlySpan<byte> buffer)
    {
        if (Volatile.Read(ref _closed))
        {
            return;
        }

        if (!Volatile.Read(ref _blocking))
        {
            SendDatagram(buffer);
            return;
        }

        // Handshake: gather the flight's records into one datagram while they fit.
        int limit = _sendLimit;
        if (_packedLength > 0 && _packedLength + buffer.Length > limit)
        {
            Flush();
        }

        if (buffer.Length > limit)
        {
            // Larger than one datagram may be (the limit fell meanwhile): it goes alone, and the kernel decides.
            SendDatagram(buffer);
            return;
        }

        // The send limit only ever falls, so a buffer of today's limit holds every later flight.
        _packed ??= ArrayPool<byte>.Shared.Rent(limit);
        buffer.CopyTo(_packed.AsSpan(_packedLength));
        _packedLength += buffer.Length;
    }

    private void SendDatagram(ReadOnlySpan<byte> datagram)
    {
        if (Volatile.Read(ref _closed))
        {
            return;
        }

        try
        {
            _socket.Send(datagram, SocketFlags.None);
            Interlocked.Increment(ref _datagramsSent);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.MessageSize)
        {
            // The path MTU is smaller than our limit (fragmentation is forbidden, so the kernel said so instead of
            // splitting the datagram): lower the limit. Handshake flights are cut anew when BouncyCastle resends them;
            // application data is sent again by the connection (TakeOversizedSend). Nothing is lost silently.
            int lower = Math.Min(DatagramSizes.PathPayload(_socket) ?? datagram.Length * 3 / 4, datagram.Length - 1);
            _sendLimit = Math.Max(DatagramSizes.Minimum, Math.Min(_sendLimit, lower));
            Volatile.Write(ref _oversizedSend, 1);
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionRefused or SocketError.NoBufferSpaceAvailable or SocketError.WouldBlock)
        {
            // UDP: an ICMP port-unreachable left by an earlier datagram, or a momentarily full send buffer. The
            // datagram is lost as it could be on the network; retransmission (handshake) or the application's own
            // protocol deals with it. Not a reason to fail the connection.
        }
        catch (ObjectDisposedException ex)
        {
            throw new IOException("The DTLS connection's socket is closed.", ex);
        }
    }

    /// <summary>BouncyCastle closes the transport after its last record (close_notify, or a fatal alert): send it first.</summary>
    public void Close()
    {
        Flush();
        Shutdown();
    }
}
