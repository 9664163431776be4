using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Org.BouncyCastle.Tls;
using SukatDtls.Transport.Features;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// One DTLS peer on its own connected UDP socket, as a Kestrel <see cref="ConnectionContext"/>.
/// </summary>
/// <remarks>
/// <para>
/// Threads: the socket's receive loop is async and holds no thread while the peer is silent. During the handshake the
/// loop only queues datagrams for the handshake thread. Once established, each received datagram is decrypted right
/// away on the thread that completed the receive; the application's read continues on the thread pool, or inline on
/// that thread with <see cref="DtlsTransportOptions.UnsafePreferInlineScheduling"/> (see the pipe options in the
/// constructor). The output pipe is drained by an async send loop, which the application's flush runs inline when it
/// is idle, so records are encrypted and sent on the writer's thread.
/// </para>
/// <para>
/// Every BouncyCastle call of the connection (receive processing, send, close) runs under <see cref="_protocolLock"/>.
/// This is a correctness rule: BouncyCastle's record layer is not safe for concurrent use, and a retransmitted
/// handshake flight switches its write epoch back temporarily, so an unserialised application send could leave as an
/// epoch-0 (plaintext) handshake record.
/// </para>
/// </remarks>
internal sealed partial class DtlsConnection : ConnectionContext,
    IConnectionIdFeature,
    IConnectionTransportFeature,
    IConnectionItemsFeature,
    IConnectionLifetimeFeature,
    IConnectionEndPointFeature,
    IConnectionSocketFeature,
    ITlsHandshakeFeature,
    IDtlsSessionFeature,
    IDtlsDatagramFeature,
    IDtlsPeerEvents
{
    // BouncyCastle's plaintext limit is 2^14; AEAD expansion and the record header add well under 1 KiB.
    internal const int MaxRecordDatagramSize = (1 << 14) + 1024;

    /// <summary>
    /// With <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c> the receive loop runs on the socket engine's epoll
    /// thread, which serves every socket of the process: the application's code must never run there, so reads are
    /// dispatched to the thread pool even when inline scheduling was asked for.
    /// </summary>
    private static readonly bool s_socketCompletionsInline =
        Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") == "1";

    private readonly Socket _socket;
    private readonly SocketAddress _peerAddress;
    private readonly IDtlsConnectionOwner _owner;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly DatagramQueueTransport _datagrams;
    private readonly Pipe _input;
    private readonly Pipe _output;
    private readonly RecordBoundaries _boundaries = new();
    private readonly EstablishedRecordFilter _recordFilter = new();
    private readonly RecordCountingPipeReader _inputReader;
    private readonly Lock _protocolLock = new();
    private readonly SemaphoreSlim _receiveProcessing = new(1, 1);
    private readonly CancellationTokenSource _connectionClosedSource = new();
    private readonly TaskCompletionSource _receiveLoopDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly long _createdTimestamp;
    private readonly DtlsMetrics? _metrics;
    private long _establishedTimestamp;

    private DtlsTransport? _dtls;
    private Task _sendLoop = Task.CompletedTask;
    private long _lastReceiveTimestamp;
    private long _droppedRecords;
    private long _datagramsPassed;
    private long _unreachableErrors;
    private int _maxRecordSize;
    private int _maxReceiveRecordSize;
    private volatile bool _peerSentCloseNotify;
    private volatile bool _closing;
    private volatile bool _skipCloseNotify;
    private int _connectionClosedFired;
    private int _disposed;
    private bool _receiving;
    private bool _inputCompleted;
    private bool _datagramViewCompleted;
    private ConnectionAbortedException? _abortReason;
    private string _closeReason = "the application closed the connection";
    private IDictionary<object, object?>? _items;

    private string _cipherSuiteName = "";
    private int _cipherSuite;
    private X509Certificate2? _peerCertificate;
    private TimeSpan _handshakeDuration;
    private bool _isResumed;
    private string? _pskIdentity;
    private Client.DtlsResumableSession? _resumableSession;

    public DtlsConnection(
        Socket socket,
        SocketAddress peerAddress,
        IPEndPoint remoteEndPoint,
        DatagramQueueTransport datagrams,
        IDtlsConnectionOwner owner,
        MemoryPool<byte> memoryPool,
        TimeProvider timeProvider,
        ILogger logger,
        DtlsMetrics? metrics = null,
        bool inlineApplicationReads = false)
    {
        _metrics = metrics;
        _socket = socket;
        _peerAddress = peerAddress;
        _datagrams = datagrams;
        _owner = owner;
        _timeProvider = timeProvider;
        _logger = logger;
        _createdTimestamp = timeProvider.GetTimestamp();
        _lastReceiveTimestamp = _createdTimestamp;

        ConnectionId = ConnectionIdGenerator.Next();
        RemoteEndPoint = remoteEndPoint;
        LocalEndPoint = socket.LocalEndPoint;

        // Bounded both ways: a handler that stops reading stops our receive loop, and then the kernel drops
        // datagrams (UDP has no flow control); a fast writer waits for the socket.
        //
        // Scheduling (each thread hop costs a wake-up, which on this path costs more than the cryptography):
        // - input, reader side: the thread pool, like Kestrel's socket transport; with UnsafePreferInlineScheduling the
        //   application's read continues on the receive loop's thread as the loop flushes a decrypted record (one wake-up
        //   less per record, ≈ 10 µs of CPU measured; a handler that blocks then holds up its own connection's receive).
        // - output, reader side: when the send loop is idle, the application's flush runs it inline, so records are
        //   encrypted and sent on the writer's thread; a busy send loop just finds the data on its next read.
        // - the writer sides stay on the thread pool: they only resume after backpressure, and must not run the
        //   application's code (output) or our receive loop (input) inside the other side's AdvanceTo.
        PipeOptions Bounded(PipeScheduler readerScheduler) => new(
            pool: memoryPool,
            readerScheduler: readerScheduler,
            writerScheduler: PipeScheduler.ThreadPool,
            pauseWriterThreshold: 64 * 1024,
            resumeWriterThreshold: 32 * 1024,
            useSynchronizationContext: false);
        _input = new Pipe(Bounded(inlineApplicationReads && !s_socketCompletionsInline ? PipeScheduler.Inline : PipeScheduler.ThreadPool));
        _output = new Pipe(Bounded(PipeScheduler.Inline));
        _inputReader = new RecordCountingPipeReader(_input.Reader, _boundaries);
        Transport = new DuplexPipe(_inputReader, _output.Writer);

        var features = new FeatureCollection();
        features.Set<IConnectionIdFeature>(this);
        features.Set<IConnectionTransportFeature>(this);
        features.Set<IConnectionItemsFeature>(this);
        features.Set<IConnectionLifetimeFeature>(this);
        features.Set<IConnectionEndPointFeature>(this);
        features.Set<IConnectionSocketFeature>(this);
        features.Set<ITlsHandshakeFeature>(this);
        features.Set<IDtlsSessionFeature>(this);
        features.Set<IDtlsDatagramFeature>(this);
        features.Set<ITlsConnectionFeature>(this);
        Features = features;
    }

    public override string ConnectionId { get; set; }

    public override IFeatureCollection Features { get; }

    public override IDictionary<object, object?> Items
    {
        get => _items ??= new ConnectionItems();
        set => _items = value;
    }

    public override IDuplexPipe Transport { get; set; }

    public override CancellationToken ConnectionClosed
    {
        get => _connectionClosedSource.Token;
        set => throw new NotSupportedException("The DTLS transport owns the ConnectionClosed token.");
    }

    public override EndPoint? LocalEndPoint { get; set; }

    public override EndPoint? RemoteEndPoint { get; set; }

    public Socket Socket => _socket;

    public SocketAddress PeerAddress => _peerAddress;

    /// <summary>The handshake finished and records flow.</summary>
    public bool IsEstablished => Volatile.Read(ref _dtls) is not null;

    public DatagramQueueTransport Datagrams => _datagrams;

    /// <summary>ICMP port-unreachable errors the socket reported (each once; a vanished peer).</summary>
    public long UnreachableErrors => Interlocked.Read(ref _unreachableErrors);

    /// <summary>Datagrams of the established connection handed to BouncyCastle.</summary>
    public long DatagramsPassed => Interlocked.Read(ref _datagramsPassed);

    /// <summary>Datagrams dropped before BouncyCastle as malformed, stale or replayed.</summary>
    public long FilteredDatagrams => _recordFilter.Dropped;

    /// <summary>Records dropped because the application was too far behind.</summary>
    public long DroppedRecords => Interlocked.Read(ref _droppedRecords);

    /// <summary>
    /// The random of the ClientHello that started this connection's handshake: a ClientHello with the same random is a
    /// late copy of it, not a restarted peer.
    /// </summary>
    public byte[] ClientHelloRandom { get; set; } = [];

    /// <summary>Kestrel took the connection from <c>AcceptAsync</c>; from then on Kestrel disposes it.</summary>
    public bool IsAccepted { get; set; }

    /// <summary>Starts receiving from the peer's socket; during the handshake datagrams are queued for BouncyCastle.</summary>
    public void StartReceiving()
    {
        _receiving = true;
        _ = ReceiveLoopAsync();
    }

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

    /// <summary>
    /// Called on the handshake thread when BouncyCastle finished the handshake: records flow from now on.
    /// </summary>
    public void OnHandshakeCompleted(DtlsTransport dtls, TlsContext context, TimeSpan duration, Client.DtlsResumableSession? resumableSession = null)
    {
        var parameters = context.SecurityParameters;
        _isResumed = parameters.IsResumedSession;
        _pskIdentity = parameters.PskIdentity is { Length: > 0 } psk ? System.Text.Encoding.UTF8.GetString(psk) : null;
        _resumableSession = resumableSession;
        _cipherSuite = parameters.CipherSuite;
        _cipherSuiteName = CipherSuiteNames.Get(parameters.CipherSuite);
        _handshakeDuration = duration;
        if (parameters.PeerCertificate is { IsEmpty: false } peerChain)
        {
            _peerCertificate = X509CertificateLoader.LoadCertificate(peerChain.GetCertificateAt(0).GetEncoded());
        }

        _recordFilter.ConfigureFor(parameters.CipherSuite, parameters.IsEncryptThenMac);
        CaptureClientCertificate(context);

        lock (_protocolLock)
        {
            _maxRecordSize = dtls.GetSendLimit();
            _maxReceiveRecordSize = dtls.GetReceiveLimit();
            _datagrams.SwitchToNonBlocking();
            Volatile.Write(ref _dtls, dtls);
        }

        _establishedTimestamp = _timeProvider.GetTimestamp();
        _metrics?.ConnectionStarted();
        _sendLoop = SendLoopAsync();

        // Datagrams that arrived while the handshake was finishing (the client's first records) wait in the queue.
        ThreadPool.UnsafeQueueUserWorkItem(static connection => _ = connection.ProcessReceivedAsync(), this, preferLocal: false);
    }

    /// <summary>Ends the connection when the peer has been silent for longer than <paramref name="idleTimeout"/>.</summary>
    public void CheckIdle(long nowTimestamp, TimeSpan idleTimeout)
    {
        if (_closing || !IsEstablished)
        {
            return;
        }

        var silentFor = _timeProvider.GetElapsedTime(Volatile.Read(ref _lastReceiveTimestamp), nowTimestamp);
        if (silentFor >= idleTimeout)
        {
            Abort(new ConnectionAbortedException($"The peer sent nothing for {idleTimeout.TotalSeconds:0.###} s (idle timeout)."));
        }
    }

    private void OnDatagram(ReadOnlySpan<byte> datagram)
    {
        if (IsEstablished && DtlsRecordHeaders.IsClientHello(datagram))
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
            _droppedRecords++;
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

    private async Task SendLoopAsync()
    {
        Exception? error = null;
        try
        {
            while (true)
            {
                var result = await _output.Reader.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                try
                {
                    if (result.IsCanceled)
                    {
                        break;
                    }

                    if (!buffer.IsEmpty)
                    {
                        SendRecords(buffer);
                    }
                }
                finally
                {
                    _output.Reader.AdvanceTo(buffer.End);
                }

                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception ex)
        {
            error = ex;
            if (!_closing)
            {
                DtlsLog.ConnectionError(_logger, ConnectionId, RemoteEndPoint!, "sending failed", ex);
                Abort(new ConnectionAbortedException("Sending to the peer failed.", ex));
            }
        }
        finally
        {
            _output.Reader.Complete(error);
        }
    }

    private void SendRecords(ReadOnlySequence<byte> buffer)
    {
        byte[]? scratch = null;
        try
        {
            lock (_protocolLock)
            {
                var dtls = _dtls!;
                if (_datagrams.IsClosed)
                {
                    return;
                }

                while (!buffer.IsEmpty)
                {
                    int limit = _maxRecordSize;
                    var chunk = buffer.Slice(0, Math.Min(limit, buffer.Length));
                    ReadOnlySpan<byte> record;
                    if (chunk.IsSingleSegment)
                    {
                        record = chunk.FirstSpan;
                    }
                    else
                    {
                        scratch ??= ArrayPool<byte>.Shared.Rent(_maxRecordSize);
                        chunk.CopyTo(scratch);
                        record = scratch.AsSpan(0, (int)chunk.Length);
                    }

                    dtls.Send(record);
                    if (_datagrams.TakeOversizedSend())
                    {
                        // The path MTU is smaller than we thought: the record did not leave. The limit is lower now;
                        // cut the same bytes again (a new record) rather than lose them.
                        _maxRecordSize = dtls.GetSendLimit();
                        continue;
                    }

                    _metrics?.RecordSent(record.Length);
                    buffer = buffer.Slice(chunk.End);
                }
            }
        }
        finally
        {
            if (scratch is not null)
            {
                ArrayPool<byte>.Shared.Return(scratch);
            }
        }
    }

    /// <summary>
    /// Ends a connection whose peer restarted (it sent a new ClientHello from the same address and port): the old
    /// session is dead on the peer's side, so no close_notify, and the socket is closed at once to free the 4-tuple.
    /// </summary>
    public void AbortForReplacement()
    {
        _skipCloseNotify = true;
        Abort(new ConnectionAbortedException("The peer restarted: a new handshake from the same address and port replaces this connection."));
    }

    /// <summary>Sends close_notify if the session is up and not closed yet (BouncyCastle's close does both).</summary>
    private void CloseProtocol()
    {
        lock (_protocolLock)
        {
            if (_dtls is not null && !_datagrams.IsClosed && !_skipCloseNotify)
            {
                try
                {
                    _dtls.Close();
                }
                catch (Exception ex)
                {
                    DtlsLog.ConnectionError(_logger, ConnectionId, RemoteEndPoint!, "sending close_notify failed", ex);
                }
            }
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
        _datagrams.Shutdown();

        // Closing the socket ends the receive loop, which then completes the input with the abort reason (the input
        // pipe's writer belongs to that loop); the send loop ends on the cancelled read.
        _socket.Dispose();
        _output.Reader.CancelPendingRead();
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
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            await DisposeCoreAsync().ConfigureAwait(false);
        }

        await base.DisposeAsync().ConfigureAwait(false);
    }

    private async Task DisposeCoreAsync()
    {
        // The application is done with the pipes: send what it wrote, then close_notify, then the socket.
        _output.Writer.Complete();
        _inputReader.Complete();
        await _sendLoop.ConfigureAwait(false);

        if (!_closing)
        {
            _closing = true;
            CloseProtocol();
        }

        _datagrams.Shutdown();
        _socket.Dispose();
        if (_receiving)
        {
            await _receiveLoopDone.Task.ConfigureAwait(false);
        }

        // A processing pass queued at handshake completion may still be running.
        await _receiveProcessing.WaitAsync().ConfigureAwait(false);
        try
        {
            CompleteInput(_abortReason);
        }
        finally
        {
            _receiveProcessing.Release();
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

        // Not inline: callbacks are the application's code, and we may hold locks or run on a socket completion.
        ThreadPool.UnsafeQueueUserWorkItem(static source =>
        {
            source.Cancel();
        }, _connectionClosedSource, preferLocal: false);
    }

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

    // IConnectionSocketFeature: the peer's own connected socket (diagnostics, socket options).
    Socket IConnectionSocketFeature.Socket => _socket;

    // ITlsHandshakeFeature: DTLS 1.2 is TLS 1.2 on datagrams; IDtlsSessionFeature names the DTLS version exactly.
    SslProtocols ITlsHandshakeFeature.Protocol => SslProtocols.Tls12;

    System.Net.Security.TlsCipherSuite? ITlsHandshakeFeature.NegotiatedCipherSuite =>
        _cipherSuite == 0 ? null : (System.Net.Security.TlsCipherSuite)_cipherSuite;

#pragma warning disable SYSLIB0058 // The legacy algorithm properties are obsolete; NegotiatedCipherSuite is their replacement.
    CipherAlgorithmType ITlsHandshakeFeature.CipherAlgorithm => CipherAlgorithmType.None;

    int ITlsHandshakeFeature.CipherStrength => 0;

    HashAlgorithmType ITlsHandshakeFeature.HashAlgorithm => HashAlgorithmType.None;

    int ITlsHandshakeFeature.HashStrength => 0;

    ExchangeAlgorithmType ITlsHandshakeFeature.KeyExchangeAlgorithm => ExchangeAlgorithmType.None;

    int ITlsHandshakeFeature.KeyExchangeStrength => 0;
#pragma warning restore SYSLIB0058

    string IDtlsSessionFeature.ProtocolVersion => "DTLS 1.2";

    int IDtlsSessionFeature.CipherSuite => _cipherSuite;

    string IDtlsSessionFeature.CipherSuiteName => _cipherSuiteName;

    X509Certificate2? IDtlsSessionFeature.PeerCertificate => _peerCertificate;

    TimeSpan IDtlsSessionFeature.HandshakeDuration => _handshakeDuration;

    bool IDtlsSessionFeature.IsResumed => _isResumed;

    string? IDtlsSessionFeature.PskIdentity => _pskIdentity;

    Client.DtlsResumableSession? IDtlsSessionFeature.ResumableSession => _resumableSession;

    int IDtlsDatagramFeature.MaxRecordSize => _maxRecordSize;

    int IDtlsDatagramFeature.MaxReceiveRecordSize => _maxReceiveRecordSize;

    bool IDtlsDatagramFeature.IsCompleted => _datagramViewCompleted;

    async ValueTask<int> IDtlsDatagramFeature.ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var reader = _inputReader;
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var data = result.Buffer;
            if (_boundaries.TryPeek(out int length) && data.Length >= length)
            {
                if (length > buffer.Length)
                {
                    reader.AdvanceTo(data.Start);
                    throw new ArgumentException(
                        $"The next record has {length} bytes but the buffer holds {buffer.Length}; nothing was consumed. Use a buffer of at least MaxReceiveRecordSize ({_maxReceiveRecordSize}) bytes.",
                        nameof(buffer));
                }

                var recordData = data.Slice(0, length);
                recordData.CopyTo(buffer.Span);
                reader.AdvanceTo(recordData.End);
                return length;
            }

            reader.AdvanceTo(data.Start, data.End);
            if (result.IsCompleted)
            {
                _datagramViewCompleted = true;
                return 0;
            }

            if (result.IsCanceled)
            {
                throw new OperationCanceledException("The pending receive was canceled.");
            }
        }
    }

    ValueTask IDtlsDatagramFeature.SendAsync(ReadOnlyMemory<byte> record, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (record.Length > _maxRecordSize)
        {
            throw new ArgumentException(
                $"A record of {record.Length} bytes does not fit: this connection carries at most {_maxRecordSize} bytes per record.",
                nameof(record));
        }

        lock (_protocolLock)
        {
            if (_closing || _datagrams.IsClosed || _dtls is null)
            {
                throw new ConnectionAbortedException("The DTLS connection is closed.");
            }

            _dtls.Send(record.Span);
            if (_datagrams.TakeOversizedSend())
            {
                _maxRecordSize = _dtls.GetSendLimit();
                throw new InvalidOperationException(
                    $"The path to the peer carries smaller datagrams than expected: the record of {record.Length} bytes was not sent; records carry at most {_maxRecordSize} bytes now (MaxRecordSize).");
            }

            _metrics?.RecordSent(record.Length);
        }

        return ValueTask.CompletedTask;
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
