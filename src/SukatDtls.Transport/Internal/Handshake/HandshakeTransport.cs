using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using Org.BouncyCastle.Tls;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The <see cref="DatagramTransport"/> BouncyCastle's handshake reads from and writes to for one peer. The handshake
/// thread reads the peer's connected socket itself: in <see cref="Receive(byte[], int, int, int)"/> it waits in
/// <c>poll()</c> for the peer's next flight (or its wait's end) and takes every datagram waiting, so a flight reaches
/// BouncyCastle with no thread in between — not through the socket engine, a thread-pool worker and a queue, which
/// cost a handshake several context switches per flight. The listener pushes in the rare datagrams that reached its
/// socket instead (<see cref="Enqueue"/>: those that raced the <c>connect()</c>); they are read at the handshake's
/// next wake-up. Once the handshake is done the transport closes, the connection's receive loop starts, and the
/// connection's own record layer (<see cref="DtlsRecordLayer"/>) takes over; what is still queued is handed to it
/// (<see cref="CloseAndTakeQueued"/>).
/// </summary>
/// <remarks>
/// <para>
/// One record per <c>Receive</c>: a datagram with several records is handed to BouncyCastle record by record, so
/// BouncyCastle never holds records of its own — whatever follows the peer's Finished in its datagram (application
/// data sent right after an abbreviated handshake) stays here for the record layer.
/// </para>
/// <para>
/// Application data that arrives before the handshake is done — a client sends its first records right after its
/// Finished, and the server may still be waiting for that Finished (lost, or reordered behind them) — is kept aside
/// (bounded) instead of reaching BouncyCastle, which would drop it; the record layer gets it with the rest.
/// </para>
/// <para>
/// While the handshake blocks for the peer's next flight, the handshake's <see cref="Slot"/> hears of it: its CPU pass
/// goes to another handshake and the scheduler may evict it; when a datagram comes it waits for a pass again.
/// </para>
/// <para>
/// Flight packing: BouncyCastle hands each handshake record to <c>Send</c> on its own. The records are gathered into
/// one datagram while they fit the send limit, and the datagram leaves when the next record would not fit, when
/// BouncyCastle turns to receiving (the flight is complete), or at <see cref="Flush"/> (the handshake ended after
/// sending). A flight thus takes as many datagrams as OpenSSL's, and a lost flight is resent whole by BouncyCastle's
/// retransmission, packed the same way. The datagrams of the last flight are kept (<see cref="TakeFinalFlight"/>): when
/// our flight ended the handshake, the record layer resends it if the peer shows it was lost.
/// </para>
/// <para>The queue is bounded; datagrams beyond it are dropped, as a full socket buffer would.</para>
/// <para>
/// A client's transport also ends the handshake when the server cannot be reached (ICMP destination unreachable: nothing
/// listens on its port, or a firewall rejects; by the rule in <c>HandshakeTransport.Unreachable.cs</c>); a server's
/// ignores such reports.
/// </para>
/// </remarks>
internal sealed partial class HandshakeTransport : DatagramTransport
{
    private readonly Socket _socket;
    private readonly HandshakeReceiveLimit _receiveLimit;
    private volatile int _sendLimit;
    private readonly int _capacity;
    private readonly Queue<(byte[] Buffer, int Length)> _queue;

    // Guards the queue and the state shared with the listener's pushes and with the connection's abort.
    private readonly Lock _lock = new();
    private bool _closed;

    // At most this many early application records are kept for the record layer; more are dropped, as UDP would.
    private const int MaxEarlyRecords = 16;

    // Application records that came before the handshake was done, in arrival order (under _lock).
    private readonly List<(byte[] Buffer, int Length)> _early = [];

    // What is left of a datagram whose first record went to BouncyCastle (under _lock).
    private byte[]? _rest;
    private int _restOffset;
    private int _restLength;

    // Handshake thread only: the flight being packed, the datagrams of the current flight, the highest epoch-1 sequence.
    private byte[]? _packed;
    private int _packedLength;
    private readonly List<byte[]> _flight = [];
    private long _highestEpoch1Sequence = -1;

    // Clients: completed when the first datagram left (the connect's attempt delay counts from it).
    private readonly TaskCompletionSource? _firstDatagramSent;
    private volatile bool _heardFromPeer;

    /// <param name="socket">The connected socket of the peer.</param>
    /// <param name="receiveLimit">The largest datagram BouncyCastle may be handed: learned, shared by a listener's handshakes.</param>
    /// <param name="sendLimit">The largest datagram sent (flights are packed and fragmented to fit).</param>
    /// <param name="capacity">Datagrams queued at most.</param>
    /// <param name="unreachableEndsHandshake">
    /// A client's transport: confirmed ICMP destination unreachable ends the handshake (<see cref="OnUnreachable"/>).
    /// </param>
    public HandshakeTransport(Socket socket, HandshakeReceiveLimit receiveLimit, int sendLimit, int capacity, bool unreachableEndsHandshake = false)
    {
        _socket = socket;
        _unreachableEndsHandshake = unreachableEndsHandshake;
        _firstDatagramSent = unreachableEndsHandshake ? new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) : null;
        _receiveLimit = receiveLimit;
        _sendLimit = sendLimit;
        _capacity = capacity;
        // Grows on demand up to the capacity: preallocating it cost every idle connection 1.5 KiB.
        _queue = new Queue<(byte[], int)>();
    }

    /// <summary>The handshake's place in the scheduler, told when the handshake waits for the peer and when it answered.</summary>
    public HandshakeSlot? Slot { get; set; }

    /// <summary>Datagrams sent (packed flights count once): what the peer and the network see.</summary>
    public long DatagramsSent => Interlocked.Read(ref _datagramsSent);

    private long _datagramsSent;

    /// <summary>The transport is closed: the handshake ended (either way) or the connection is going away.</summary>
    public bool IsClosed => Volatile.Read(ref _closed);

    /// <summary>A datagram came from the peer during the handshake: something answers there.</summary>
    public bool HeardFromPeer => _heardFromPeer;

    /// <summary>
    /// A client's transport: completes when the handshake's first datagram left (computing the ClientHello is no time
    /// the server had to answer in). Completed at once for a server's.
    /// </summary>
    public Task FirstDatagramSent => _firstDatagramSent?.Task ?? Task.CompletedTask;

    /// <summary>The datagram limit now (it falls when the kernel reports a smaller path MTU).</summary>
    public int SendLimit => _sendLimit;

    /// <summary>The first epoch-1 sequence number the handshake did not use: where the record layer's writing goes on.</summary>
    public long NextEpoch1Sequence => _highestEpoch1Sequence + 1;

    /// <summary>
    /// Queues a copy of <paramref name="datagram"/> (from the listener's socket); the handshake takes it at its next
    /// wake-up. Returns false when the queue is full or closed.
    /// </summary>
    public bool Enqueue(ReadOnlySpan<byte> datagram)
    {
        byte[] copy = ArrayPool<byte>.Shared.Rent(datagram.Length);
        datagram.CopyTo(copy);
        return EnqueueRented(copy, datagram.Length);
    }

    /// <summary>Queues a pooled buffer holding a datagram; returns it to the pool when the queue is full or closed.</summary>
    private bool EnqueueRented(byte[] buffer, int length)
    {
        lock (_lock)
        {
            if (!_closed && _queue.Count < _capacity)
            {
                _queue.Enqueue((buffer, length));
                _heardFromPeer = true;
                ClearSuspicion();
                return true;
            }
        }

        ArrayPool<byte>.Shared.Return(buffer);
        return false;
    }

    /// <summary>
    /// Closes the transport (later <see cref="Enqueue"/> calls fail, so the receive loop hands its datagrams to the
    /// record layer instead) and returns what BouncyCastle did not take: the rest of a datagram, then the queue, in
    /// order. The caller returns each buffer to <see cref="ArrayPool{T}.Shared"/>.
    /// </summary>
    public List<(byte[] Buffer, int Offset, int Length)> CloseAndTakeQueued()
    {
        var left = new List<(byte[], int, int)>();
        lock (_lock)
        {
            _closed = true;
            foreach (var (buffer, length) in _early)
            {
                left.Add((buffer, 0, length));
            }

            _early.Clear();
            if (_rest is { } rest)
            {
                left.Add((rest, _restOffset, _restLength));
                _rest = null;
            }

            while (_queue.TryDequeue(out var item))
            {
                left.Add((item.Buffer, 0, item.Length));
            }

            // Closed, nothing is queued here again. A client connection keeps this object for the rest of its life (a
            // server connection lets it go: DtlsConnection.ReleaseHandshakeTransport), so its emptied arrays go now.
            _queue.TrimExcess();
            _early.Capacity = 0;
        }

        return left;
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
    /// The datagrams of the flight sent last, when the handshake ended with it (BouncyCastle did not receive after
    /// it): the final flight the record layer may have to resend. Null otherwise. Call after <see cref="Flush"/>.
    /// </summary>
    public byte[][]? TakeFinalFlight()
    {
        var flight = _flight.Count > 0 ? _flight.ToArray() : null;
        _flight.Clear();
        _flight.Capacity = 0; // the record layer holds the flight now; a client connection keeps this object
        return flight;
    }

    /// <summary>
    /// On the handshake thread when the handshake ended, done or failed: the last flight or alert leaves, and the
    /// packing buffer goes back to the pool.
    /// </summary>
    public void EndHandshake()
    {
        Flush();
        if (_packed is { } buffer)
        {
            _packed = null;
            _packedLength = 0;
            ArrayPool<byte>.Shared.Return(buffer);
        }

        Slot = null;
    }

    /// <summary>Wakes a blocked handshake and makes every later call fail: the connection is going away.</summary>
    public void Shutdown()
    {
        foreach (var (buffer, _, _) in CloseAndTakeQueued())
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public int GetReceiveLimit() => _receiveLimit.Current;

    public int GetSendLimit() => _sendLimit;

    public int Receive(byte[] buf, int off, int len, int waitMillis) => Receive(buf.AsSpan(off, len), waitMillis);

    public int Receive(Span<byte> buffer, int waitMillis)
    {
        // BouncyCastle turns to receiving: the flight it wrote is complete, and the next one it writes is a new one.
        EndFlight();

        // waitMillis == 0 means "wait forever" in BouncyCastle's contract; the handshake timeout bounds it.
        long deadline = waitMillis == 0 ? long.MaxValue : Environment.TickCount64 + waitMillis;
        bool waitedForPeer = false;
        int length;
        while (true)
        {
            byte[][]? resend = null;
            int pollMillis = -1;
            lock (_lock)
            {
                while (true)
                {
                    ThrowIfUnreachable();
                    if (_closed)
                    {
                        // Returning -1 here would make BouncyCastle spin on a dead transport.
                        throw new IOException("The DTLS connection was closed.");
                    }

                    if (TryTakeRecord(buffer, out length))
                    {
                        break;
                    }

                    if (!waitedForPeer)
                    {
                        // Nothing to compute until the peer answers: give the CPU pass to another handshake.
                        Slot?.WaitForPeer();
                        waitedForPeer = true;
                    }

                    long now = Environment.TickCount64;
                    long wakeAt = deadline;
                    resend = TakeConfirmationResend(now, ref wakeAt);
                    if (resend is not null)
                    {
                        pollMillis = 0;
                        break;
                    }

                    if (now >= deadline)
                    {
                        // BouncyCastle resends its flight (cheap: no pass needed) and waits again, still for the peer.
                        return -1;
                    }

                    pollMillis = (int)Math.Min(wakeAt - now, int.MaxValue);
                    break;
                }
            }

            if (pollMillis < 0)
            {
                // A record for BouncyCastle.
                break;
            }

            if (resend is not null)
            {
                // Outside the lock: a send may report an ICMP error itself.
                foreach (byte[] datagram in resend)
                {
                    SendToPeer(datagram);
                }

                continue;
            }

            // Woken by a datagram, an ICMP report, the time, or the socket closing: each is looked at again above.
            ReadSocket(pollMillis);
        }

        if (waitedForPeer)
        {
            // The peer answered: compute again once a pass is free (outside the lock: enqueues must not wait for it).
            Slot?.PeerAnswered();
        }

        return length;
    }

    /// <summary>The next record, from the rest of the last datagram or the next queued one (under <see cref="_lock"/>).</summary>
    private bool TryTakeRecord(Span<byte> buffer, out int length)
    {
        while (true)
        {
            if (_rest is null)
            {
                if (!_queue.TryDequeue(out var item))
                {
                    length = 0;
                    return false;
                }

                _rest = item.Buffer;
                _restOffset = 0;
                _restLength = item.Length;
            }

            var rest = _rest.AsSpan(_restOffset, _restLength);

            // A whole record where the framing holds (one record per Receive); else what is left as one piece, which
            // BouncyCastle's own parsing then rejects.
            bool framed = DtlsRecord.TryRead(rest, out var record);
            int take = framed ? record.Whole.Length : rest.Length;
            if (framed && IsEarlyApplicationRecord(record))
            {
                // Early application data (BouncyCastle would drop it): kept for the record layer.
                KeepEarlyRecordLocked(rest[..take]);
                ReleaseRest(take);
                continue;
            }

            if (take > buffer.Length)
            {
                // Longer than BouncyCastle can take: dropped, as recv() would truncate and the record layer reject it.
                // The limit grows to hold it, so that the peer's retransmission fits (HandshakeReceiveLimit).
                _receiveLimit.Learn(take);
                take = rest.Length;
                ReleaseRest(take);
                continue;
            }

            rest[..take].CopyTo(buffer);
            ReleaseRest(take);
            length = take;
            return true;
        }
    }

    /// <summary>An application record of the new epoch: the record layer's, never the handshake's.</summary>
    public static bool IsEarlyApplicationRecord(in DtlsRecord record) =>
        record.Epoch > 0 && record.ContentType is DtlsContentType.ApplicationData or DtlsContentType.Tls12Cid;

    /// <summary>
    /// Keeps an application record that came before the handshake was done, for the record layer
    /// (<see cref="CloseAndTakeQueued"/>); bounded, and dropped once the transport is closed.
    /// </summary>
    public void KeepEarlyRecord(ReadOnlySpan<byte> record)
    {
        lock (_lock)
        {
            KeepEarlyRecordLocked(record);
        }
    }

    private void KeepEarlyRecordLocked(ReadOnlySpan<byte> record)
    {
        // Copied into a buffer of the pool, as the queue's are, so that whoever takes it returns it there.
        if (!_closed && _early.Count < MaxEarlyRecords)
        {
            byte[] copy = ArrayPool<byte>.Shared.Rent(record.Length);
            record.CopyTo(copy);
            _early.Add((copy, record.Length));
        }
    }

    /// <summary>
    /// The handshake turns to waiting for the peer: the flight it wrote is complete (what is packed leaves now), and
    /// the next one it writes is a new one (<see cref="TakeFinalFlight"/> returns only that).
    /// </summary>
    public void EndFlight()
    {
        Flush();
        KeepFlightForResend();
        _flight.Clear();
    }

    private void ReleaseRest(int taken)
    {
        _restOffset += taken;
        _restLength -= taken;
        if (_restLength == 0)
        {
            ArrayPool<byte>.Shared.Return(_rest!);
            _rest = null;
        }
    }

    public void Send(byte[] buf, int off, int len) => Send(buf.AsSpan(off, len));

    public void Send(ReadOnlySpan<byte> buffer)
    {
        if (Volatile.Read(ref _closed) || Volatile.Read(ref _unreachable) == Unreachable)
        {
            // Closed, or the server cannot be reached: BouncyCastle's alert about the failure has nobody to go to.
            return;
        }

        // BouncyCastle sends one record per call: remember the last epoch-1 sequence number it used (its Finished,
        // or a resend of it), so that the record layer goes on after it and never reuses a nonce.
        if (buffer.Length >= DtlsRecord.HeaderLength && BinaryPrimitives.ReadUInt16BigEndian(buffer[3..]) == DtlsRecordLayer.Epoch)
        {
            _highestEpoch1Sequence = Math.Max(_highestEpoch1Sequence, BigEndian.ReadUInt48(buffer[5..]));
        }

        // Gather the flight's records into one datagram while they fit.
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

        _flight.Add(datagram.ToArray());
        SendToPeer(datagram);
    }

    /// <summary>BouncyCastle closes the transport after its last record (a fatal alert): send it first.</summary>
    public void Close()
    {
        Flush();
        Shutdown();
    }
}
