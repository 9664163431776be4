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
/// <para>The queue is bounded; datagrams beyond it are dropped (and counted), as a full socket buffer would.</para>
/// </remarks>
internal sealed class DatagramQueueTransport : DatagramTransport
{
    private readonly Socket _socket;
    private readonly int _receiveLimit;
    private volatile int _sendLimit;
    private int _oversizedSend;
    private readonly int _capacity;
    private readonly Queue<(byte[] Buffer, int Length, long Sequence)> _queue;
    // A monitor (not System.Threading.Lock): the handshake thread waits on it with Monitor.Wait.
    private readonly object _lock = new();
    private bool _blocking = true;
    private bool _closed;
    private int _passLengthLimit = int.MaxValue;

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

    /// <summary>From now on, an empty queue makes <c>Receive</c> return at once.</summary>
    public void SwitchToNonBlocking()
    {
        lock (_lock)
        {
            _blocking = false;
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

                // waitMillis == 0 means "wait forever" in BouncyCastle's contract; the handshake timeout bounds it.
                if (!Monitor.Wait(_lock, waitMillis == 0 ? Timeout.Infinite : waitMillis))
                {
                    return -1;
                }
            }
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

        try
        {
            _socket.Send(buffer, SocketFlags.None);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.MessageSize)
        {
            // The path MTU is smaller than our limit (fragmentation is forbidden, so the kernel said so instead of
            // splitting the datagram): lower the limit. Handshake flights are cut anew when BouncyCastle resends them;
            // application data is sent again by the connection (TakeOversizedSend). Nothing is lost silently.
            int lower = Math.Min(DatagramSizes.PathPayload(_socket) ?? buffer.Length * 3 / 4, buffer.Length - 1);
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

    public void Close() => Shutdown();
}
