using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
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
/// Threads: during the handshake the handshake thread reads the socket (<see cref="HandshakeTransport"/>). Once
/// established, the socket waits in a receive loop of <see cref="PeerReceiveEngine"/> (an async receive on .NET's socket
/// engine where those cannot run), holding no thread while the peer is silent, and the connection's own record layer
/// (<see cref="DtlsRecordLayer"/>) takes over: every datagram waiting on the socket is read and its records decrypted
/// right away, in place, on the loop's thread, then the input pipe is flushed once; the application's read continues on
/// the thread pool, or inline on that thread with
/// <see cref="DtlsTransportOptions.UnsafePreferInlineScheduling"/> (see the pipe options in the constructor). The
/// output pipe is drained by an async send loop, which the application's flush runs inline when it is idle, so records
/// are encrypted and sent on the writer's thread. BouncyCastle is not called after the handshake.
/// </para>
/// <para>
/// Only records that authenticate count as a sign of life (the idle timeout, received-record metrics): a forged or
/// replayed record from the peer's address and port changes nothing.
/// </para>
/// <para>
/// Partial, by concern: this file holds the state and the handshake's hand-over; receiving, sending, the end of the
/// connection, the features and the datagram view each have a file of their own.
/// </para>
/// </remarks>
internal sealed partial class DtlsConnection : ConnectionContext,
    IConnectionIdFeature,
    IConnectionTransportFeature,
    IConnectionItemsFeature,
    IConnectionLifetimeFeature,
    IConnectionEndPointFeature
{
    // The plaintext limit is 2^14; protection, the record header and a Connection ID add well under 1 KiB.
    internal const int MaxRecordDatagramSize = DtlsRecordLayer.MaxPlaintextLength + 1024;

    /// <summary>
    /// With <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c> a receive loop on .NET's socket engine runs on its
    /// epoll thread, which serves every socket of the process: the application's code must never run there, so reads
    /// are dispatched to the thread pool even when inline scheduling was asked for (not for the transport's own loops).
    /// </summary>
    private static readonly bool s_socketCompletionsInline =
        Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") == "1";

    // The peer's connected socket; replaced when a detached connection's peer shows up at a new address (Migration).
    private Socket _socket;
    private SocketAddress _peerAddress;

    // The peer's address as its socket names it: _peerAddress itself, or (an IPv4 socket for an IPv4 peer of a
    // dual-stack listener, UdpSockets.PeerSocketFamily) its IPv4 form. What received datagrams are checked against; the
    // connection and the listener's table keep the listener's form. Changes with _peerAddress (Migration).
    private SocketAddress _socketPeerAddress;
    private readonly int _maxDatagramSize;
    private readonly IDtlsConnectionOwner _owner;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    // The handshake's transport; a server connection lets it go once established (ReleaseHandshakeTransport), so every
    // use after the handshake reads it once and tolerates null.
    private HandshakeTransport? _datagrams;
    private readonly Pipe _input;
    private readonly RecordBoundaries _boundaries = new();
    private readonly RecordCountingPipeReader _inputReader;
    private readonly SemaphoreSlim _receiveProcessing = new(1, 1);
    // The thread whose receive pass (OnReadable) holds _receiveProcessing, while that pass is on its stack (0 otherwise),
    // and which pass that is (never 0): what the pass runs inline — the application's read continuation, and Kestrel's
    // disposal when the handler returns — must not wait for the gate its own thread holds (DisposeCoreAsync).
    private int _passThread;
    private int _passNumber;
    // Made when ConnectionClosed is first asked for: a connection whose token nobody holds is closed without a
    // thread-pool work item to cancel it (FireConnectionClosed).
    private CancellationTokenSource? _connectionClosedSource;
    private readonly long _createdTimestamp;
    private readonly DtlsMetrics? _metrics;
    private long _establishedTimestamp;

    private DtlsRecordLayer? _records;
    private long _lastReceiveTimestamp;
    private long _datagramsAccepted;
    private long _datagramsDropped;
    private long _unreachableErrors;
    private volatile int _sendLimit;
    private volatile int _maxRecordSize;
    private volatile bool _peerSentCloseNotify;
    private volatile bool _closing;
    private volatile bool _skipCloseNotify;
    private int _connectionClosedFired;
    private int _closeNotifySent;
    private TaskCompletionSource? _disposal;
    private Task _receiveLoop = Task.CompletedTask;
    private readonly PeerReceiveEngine? _receiveEngine;
    private PeerReceiveRegistration? _registration;
    private bool _inputCompleted;
    private bool _datagramViewCompleted;
    private ConnectionAbortedException? _abortReason;
    private string _closeReason = "the application closed the connection";
    private IDictionary<object, object?>? _items;

    private CompletedHandshake? _handshake;

    // Our own server handshake while it runs between datagrams: the receive loop hands it the peer's datagrams.
    private IDatagramHandshake? _loopHandshake;

    public DtlsConnection(
        Socket socket,
        SocketAddress peerAddress,
        IPEndPoint remoteEndPoint,
        HandshakeTransport datagrams,
        IDtlsConnectionOwner owner,
        MemoryPool<byte> memoryPool,
        TimeProvider timeProvider,
        ILogger logger,
        DtlsMetrics? metrics = null,
        bool inlineApplicationReads = false,
        int maxDatagramSize = DatagramSizes.Default,
        PeerReceiveEngine? receiveEngine = null)
    {
        _receiveEngine = receiveEngine;
        _metrics = metrics;
        _maxDatagramSize = maxDatagramSize;
        _socket = socket;
        _peerAddress = peerAddress;
        _socketPeerAddress = peerAddress.InFamily(socket.AddressFamily);
        _datagrams = datagrams;
        datagrams.Attach(this, _socketPeerAddress);
        _owner = owner;
        _timeProvider = timeProvider;
        _logger = logger;
        _createdTimestamp = timeProvider.GetTimestamp();
        _lastReceiveTimestamp = _createdTimestamp;

        ConnectionId = ConnectionIdGenerator.Next();
        RemoteEndPoint = remoteEndPoint;
        LocalEndPoint = InFamilyOf(socket.LocalEndPoint, remoteEndPoint);

        // Bounded both ways (ConnectionPipeOptions). Scheduling (each thread hop costs a wake-up, which on this path
        // costs more than the cryptography):
        // - input, reader side: the thread pool, like Kestrel's socket transport; with UnsafePreferInlineScheduling the
        //   application's read continues on the receive loop's thread as the loop flushes a decrypted record (one wake-up
        //   less per record, docs/benchmarks.md; a handler that blocks then holds up its own connection's receive).
        // - output (made on first use, DtlsConnection.Output.cs), reader side: when the send loop is idle, the
        //   application's flush runs it inline, so records are encrypted and sent on the writer's thread; a busy send
        //   loop just finds the data on its next read.
        _input = new Pipe(ConnectionPipeOptions.Input(memoryPool, inlineReader: inlineApplicationReads && (receiveEngine is not null || !s_socketCompletionsInline)));
        _memoryPool = memoryPool;
        _inputReader = new RecordCountingPipeReader(_input.Reader, _boundaries);
        Transport = new ConnectionTransport(_inputReader, this);

        Features = new ConnectionFeatures(this, s_featureTypes);
    }

    /// <summary>The features this connection implements itself.</summary>
    private static readonly Type[] s_featureTypes =
    [
        typeof(IConnectionIdFeature),
        typeof(IConnectionTransportFeature),
        typeof(IConnectionItemsFeature),
        typeof(IConnectionLifetimeFeature),
        typeof(IConnectionEndPointFeature),
        typeof(IConnectionSocketFeature),
        typeof(ITlsHandshakeFeature),
        typeof(IDtlsSessionFeature),
        typeof(IDtlsDatagramFeature),
        typeof(ITlsConnectionFeature),
        typeof(IDtlsMigrationFeature),
    ];

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
        get
        {
            var source = Volatile.Read(ref _connectionClosedSource);
            if (source is null)
            {
                var created = new CancellationTokenSource();
                source = Interlocked.CompareExchange(ref _connectionClosedSource, created, null) ?? created;
                if (!ReferenceEquals(source, created))
                {
                    created.Dispose();
                }
                else if (Volatile.Read(ref _connectionClosedFired) != 0)
                {
                    // Closed before anyone asked: the new token is cancelled already (no callbacks are registered yet).
                    // The exchange above fenced against FireConnectionClosed, so one of the two cancels it.
                    created.Cancel();
                }
            }

            return source.Token;
        }
        set => throw new NotSupportedException("The DTLS transport owns the ConnectionClosed token.");
    }

    public override EndPoint? LocalEndPoint { get; set; }

    /// <summary>
    /// A local address in the form of the remote one: an IPv4 peer socket of a dual-stack listener reports
    /// <c>127.0.0.1</c> where the peer is <c>::ffff:127.0.0.1</c>, and the application sees both as IPv4-mapped, as
    /// Kestrel's socket transport shows them.
    /// </summary>
    private static EndPoint? InFamilyOf(EndPoint? local, IPEndPoint remote) =>
        local is IPEndPoint ip ? ip.InFamily(remote.AddressFamily) : local;

    public override EndPoint? RemoteEndPoint { get; set; }

    public Socket Socket => Volatile.Read(ref _socket);

    /// <summary>The peer's address now (it changes when a peer with a Connection ID moves).</summary>
    public SocketAddress PeerAddress => Volatile.Read(ref _peerAddress);

    /// <summary>The handshake finished and records flow.</summary>
    public bool IsEstablished => Volatile.Read(ref _records) is not null;

    /// <summary>
    /// The handshake's datagrams: closed once the handshake is done, and gone from an established server connection
    /// (<see cref="ReleaseHandshakeTransport"/>), where reading this throws.
    /// </summary>
    public HandshakeTransport Datagrams =>
        Volatile.Read(ref _datagrams) ?? throw new InvalidOperationException("The handshake's transport was released: the connection is established.");

    /// <summary>The record layer of the established connection; null during the handshake.</summary>
    public DtlsRecordLayer? Records => Volatile.Read(ref _records);

    /// <summary>ICMP destination-unreachable errors the socket reported and the connection went on after (each once; a vanished peer).</summary>
    public long UnreachableErrors => Interlocked.Read(ref _unreachableErrors);

    /// <summary>Why the connection was aborted (its inner exception is the socket's error when receiving failed); null if it was not.</summary>
    public ConnectionAbortedException? AbortReason => Volatile.Read(ref _abortReason);

    /// <summary>Datagrams of the established connection with at least one record that authenticated.</summary>
    public long AcceptedDatagrams => Interlocked.Read(ref _datagramsAccepted);

    /// <summary>
    /// Datagrams of the established connection without a record that authenticated: malformed, replayed, forged — and
    /// records with another connection's Connection ID, which the listener is asked to route.
    /// </summary>
    public long DroppedDatagrams => Interlocked.Read(ref _datagramsDropped);

    /// <summary>
    /// The random of the ClientHello that started this connection's handshake: a ClientHello with the same random is a
    /// late copy of it, not a restarted peer.
    /// </summary>
    public byte[] ClientHelloRandom { get; set; } = [];

    /// <summary>Kestrel took the connection from <c>AcceptAsync</c>; from then on Kestrel disposes it.</summary>
    public bool IsAccepted { get; set; }


    /// <summary>
    /// Called on the handshake thread when BouncyCastle finished the handshake: from now on the record layer carries
    /// the records, and what the handshake's transport still held (the peer's first records) goes to it.
    /// </summary>
    public void OnHandshakeCompleted(CompletedHandshake handshake)
    {
        var datagrams = Datagrams;
        _handshake = handshake;
        datagrams.EndHandshake();
        _sendLimit = datagrams.SendLimit;
        _maxRecordSize = handshake.Records.MaxPlaintext(_sendLimit);
        long now = _timeProvider.GetTimestamp();
        _establishedTimestamp = now;
        Volatile.Write(ref _lastReceiveTimestamp, now);

        // Published before the transport closes: the receive loop, finding the transport closed, reads the record layer.
        Volatile.Write(ref _records, handshake.Records);
        var queued = datagrams.CloseAndTakeQueued();
        _metrics?.ConnectionStarted();
        StartSendingIfWritten();
        if (queued.Count > 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static state => _ = state.Connection.ProcessQueuedAsync(state.Queued), (Connection: this, Queued: queued), preferLocal: false);
        }

        if (Volatile.Read(ref _loopHandshake) is null)
        {
            // The handshake thread read the socket until now; from here on the receive loop does. (A handshake that ran
            // between datagrams was on the loop already.)
            Volatile.Write(ref _receiveLoop, StartReceiving(_socket));
        }
    }

    /// <summary>Whether the receive loops of our own read this connection's socket (not .NET's socket engine).</summary>
    public bool ReceivesOnLoops => _receiveEngine is not null;

    /// <summary>
    /// Our handshake has sent its first flight and waits between datagrams: the receive loop starts reading the peer's
    /// socket now and hands the handshake what comes, until the record layer takes over. A connection aborted before
    /// (evicted, the listener unbound) ends the handshake at once.
    /// </summary>
    public void ReceiveForHandshake(IDatagramHandshake handshake)
    {
        // A full fence (the exchange) between this write and the _closing read; Abort fences the other way, so one of
        // the two tells the handshake.
        Interlocked.Exchange(ref _loopHandshake, handshake);
        if (_closing)
        {
            handshake.OnConnectionAborted();
            return;
        }

        Volatile.Write(ref _receiveLoop, StartReceiving(_socket));
    }

    /// <summary>
    /// A server connection, established: lets the handshake's transport go (its object, lock, queue and lists, about
    /// 300 bytes of every idle session). The final flight lives in the record layer, the datagrams that came during the
    /// hand-over went to the receive path, and every later datagram takes the record layer's path. Not for client
    /// connections, whose connect attempt still reads the transport's state after the handshake.
    /// </summary>
    public void ReleaseHandshakeTransport()
    {
        Debug.Assert(Volatile.Read(ref _records) is not null, "released before the record layer was published");
        Volatile.Write(ref _datagrams, null);
        Volatile.Write(ref _loopHandshake, null);
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
}
