using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;
using SukatDtls.Transport.Internal.BouncyCastle;
using SukatDtls.Transport.Internal.Ecdhe;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// One bound DTLS endpoint: the listening socket's receive loop, the table of verified peers and the queue of
/// established connections waiting for Kestrel's accept loop. The stages a datagram passes before a connection exists
/// are types of their own: <see cref="ClientHelloGate"/> (ClientHello, reassembly, cookie), <see cref="PeerAdmission"/>
/// (limits), <see cref="UdpSockets"/> (the peer's socket) and <see cref="ServerHandshake"/> (on a handshake thread).
/// </summary>
/// <remarks>
/// A new peer costs nothing until it returns a valid cookie: only then does it get its own UDP socket, bound to the
/// listening address and port (SO_REUSEADDR + SO_REUSEPORT) and <c>connect()</c>ed to the peer, so the kernel hands
/// that peer's datagrams to its socket from then on, like TCP's <c>accept()</c>.
/// </remarks>
internal sealed partial class DtlsConnectionListener : IConnectionListener, IDtlsConnectionOwner, IServerHandshakeOwner, IIdleWork
{
    private readonly DtlsEndPoint _requestedEndPoint;
    private readonly DtlsTransportOptions _options;
    private readonly MemoryPool<byte> _memoryPool;
    private readonly TimeProvider _timeProvider;

    // The receive buffers BouncyCastle allocates per receive: sized by what peers send, not by the protocol's maximum.
    private readonly HandshakeReceiveLimit _handshakeReceiveLimit = new(HandshakeReceiveLimit.Floor, DtlsConnection.MaxRecordDatagramSize);
    private readonly ILogger _logger;
    private readonly ILogger _connectionLogger;
    private readonly PeerTable _peers = new();
    private readonly Channel<DtlsConnection> _acceptQueue;
    private readonly HandshakeScheduler _handshakes;
    private readonly ServerHandshake _serverHandshake;
    private readonly PeerAdmission _admission;
    private readonly RefusalLogThrottle _refusalLog;
    private readonly ConnectionIdTable? _connectionIds;
    private readonly DtlsMetrics? _metrics;

    // Dispatch runs under this lock: datagrams from the receive loop, strays from peer sockets, restarted peers.
    private readonly Lock _dispatchLock = new();

    // Where a datagram not held in an array of its own (a stray from a peer socket, or one a receive loop read) is
    // copied for Dispatch, which takes an array, as BouncyCastle's cookie check behind it does. Used under _dispatchLock.
    private readonly byte[] _dispatchBuffer = new byte[DtlsConnection.MaxRecordDatagramSize];

    private Socket? _listenSocket;
    private IPEndPoint _boundEndPoint = null!;
    private ClientHelloGate? _gate;
    private ITimer? _heartbeat;
    private Task _receiveLoop = Task.CompletedTask;
    private volatile bool _unbound;
    private int _disposed;

    public DtlsConnectionListener(
        DtlsEndPoint endPoint,
        DtlsTransportOptions options,
        ServerCredentialsProvider credentials,
        BcTlsCrypto crypto,
        MemoryPool<byte> memoryPool,
        TimeProvider timeProvider,
        ILoggerFactory loggerFactory,
        DtlsMetrics? metrics = null,
        IDtlsSessionCache? registeredSessionCache = null)
    {
        _requestedEndPoint = endPoint;
        _options = options;
        var peerSettings = new ServerPeerSettings(crypto, credentials, options, loggerFactory.CreateLogger(DtlsSecurityLog.Category))
        {
            // The options' cache (set in code) first, then one registered as a service (AddDtlsDistributedSessionCache),
            // else one in memory for this listener.
            Sessions = options.EnableSessionResumption
                ? options.SessionCache ?? registeredSessionCache ?? new MemoryDtlsSessionCache(options.MaxCachedSessions, options.SessionLifetime, timeProvider)
                : null,
            TimeProvider = timeProvider,
            Metrics = metrics,
            SessionLogger = loggerFactory.CreateLogger(DtlsSessionLog.Category),
        };
        _serverHandshake = new ServerHandshake(peerSettings, timeProvider);
        _memoryPool = memoryPool;
        _timeProvider = timeProvider;
        _logger = loggerFactory.CreateLogger("SukatDtls.Transport.Listener");
        _connectionLogger = loggerFactory.CreateLogger("SukatDtls.Transport.Connection");
        _metrics = metrics;
        Statistics = new DtlsListenerStatistics(metrics);
        // Kestrel's accept loop continues on the handshake thread that queued the connection: it only queues the
        // connection to the thread pool and waits for the next one, so a second hand-off here would only add a wake-up.
        _acceptQueue = Channel.CreateBounded<DtlsConnection>(new BoundedChannelOptions(options.AcceptQueueLength)
        {
            SingleReader = false,
            SingleWriter = false,
            AllowSynchronousContinuations = true,
        });
        // A handshake that has waited a retransmission period for its peer may give way to a new one (its peer is
        // slow, lossy or silent; one on a fast network answered long before).
        _handshakes = new HandshakeScheduler(options.MaxConcurrentHandshakes, options.HandshakeRetransmissionTimeout, "DTLS handshake", timeProvider);
        _refusalLog = new RefusalLogThrottle(timeProvider);
        _admission = new PeerAdmission(options, _handshakes, Statistics, _refusalLog, timeProvider, _logger);
        _connectionIds = options.ConnectionIdLength > 0 ? new ConnectionIdTable(options.ConnectionIdLength) : null;
        EndPoint = endPoint;
    }

    public EndPoint EndPoint { get; private set; }

    public DtlsListenerStatistics Statistics { get; }

    /// <summary>The listening socket once bound (tests set socket options on it to reach paths other systems take).</summary>
    internal Socket? ListenSocket => _listenSocket;

    /// <summary>Peers with a socket of their own: in handshake, waiting for accept, or established.</summary>
    public int PeerCount => _peers.Count;

    public HandshakeScheduler Handshakes => _handshakes;

    /// <summary>Live connections with a Connection ID the listener gave out.</summary>
    public int ConnectionIdCount => _connectionIds?.Count ?? 0;

    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    public void Bind()
    {
        var socket = UdpSockets.Listen(_requestedEndPoint.IPEndPoint);
        _listenSocket = socket;
        _boundEndPoint = (IPEndPoint)socket.LocalEndPoint!;
        EndPoint = new DtlsEndPoint(_boundEndPoint);
        _gate = new ClientHelloGate(socket, _timeProvider, _options.CookieKeyRotationInterval, Statistics, _logger,
            () => DtlsLog.CookieKeyRotated(_logger, _boundEndPoint), CookieSecret(_options));

        if (_options.IdleTimeout != Timeout.InfiniteTimeSpan)
        {
            var period = TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(1).Ticks, _options.IdleTimeout.Ticks));
            _heartbeat = _timeProvider.CreateTimer(static state => ((DtlsConnectionListener)state!).OnHeartbeat(), this, period, period);
        }

        _receiveLoop = StartReceiving(socket);
        DtlsLog.Listening(_logger, _boundEndPoint);
        DtlsLog.CryptoProviders(_logger, _boundEndPoint, PlatformTlsCrypto.X25519Provider, RecordSuite.Providers);
    }

    /// <summary>The shared cookie secret, when configured (validated at start, so it parses).</summary>
    private static byte[]? CookieSecret(DtlsTransportOptions options) =>
        options.CookieSecret is { } hex && DtlsTransportOptionsRules.TryParseHexKey(hex, out byte[]? secret) ? secret : null;

    /// <summary>The listening socket's receive loop on .NET's socket engine (where the transport's own loops do not run).</summary>
    private async Task ReceiveLoopAsync(Socket socket)
    {
        byte[] buffer = GC.AllocateArray<byte>(DtlsConnection.MaxRecordDatagramSize, pinned: true);
        var from = new SocketAddress(socket.AddressFamily);
        try
        {
            while (!_unbound)
            {
                int received;
                try
                {
                    received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, from).ConfigureAwait(false);
                }
                catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.ConnectionRefused or SocketError.MessageSize)
                {
                    // An ICMP error for a HelloVerifyRequest we sent, or an oversized datagram: per-datagram, not fatal.
                    continue;
                }

                lock (_dispatchLock)
                {
                    Dispatch(buffer, received, from);
                }
            }
        }
        catch (Exception ex) when (ex is ObjectDisposedException
            || ex is SocketException { SocketErrorCode: SocketError.OperationAborted or SocketError.Interrupted or SocketError.Shutdown })
        {
            // Unbound.
        }
        catch (Exception ex)
        {
            DtlsLog.ListenerFailed(_logger, _boundEndPoint, ex);
        }
    }

    void IDtlsConnectionOwner.OnStrayDatagram(ReadOnlySpan<byte> datagram, SocketAddress from)
    {
        lock (_dispatchLock)
        {
            DispatchCopy(datagram, from);
        }
    }

    /// <summary>Dispatches a datagram held elsewhere, through <see cref="_dispatchBuffer"/>. Runs under <see cref="_dispatchLock"/>.</summary>
    private void DispatchCopy(ReadOnlySpan<byte> datagram, SocketAddress from)
    {
        datagram.CopyTo(_dispatchBuffer);
        Dispatch(_dispatchBuffer, datagram.Length, from);
    }

    /// <summary>Routes one datagram that arrived on the listening socket. Runs under <see cref="_dispatchLock"/>.</summary>
    private void Dispatch(byte[] buffer, int length, SocketAddress from)
    {
        Statistics.OnDatagramReceived();

        // A record with a Connection ID goes to the connection that owns the ID, whatever the address it came from: its
        // peer moved (a NAT rebinding), perhaps to an address another connection still has. The connection decides,
        // after authenticating it, whether the peer really moved.
        if (_connectionIds is not null && length > 0 && buffer[0] == (byte)DtlsContentType.Tls12Cid)
        {
            RouteByConnectionId(buffer.AsSpan(0, length), from);
            return;
        }

        // A known peer whose datagram was queued here before its socket was connected: hand it over, never lose it.
        if (_peers.TryGet(from, out var known))
        {
            known.OnForwardedDatagram(buffer.AsSpan(0, length));
            Statistics.OnDatagramForwarded();
            return;
        }

        if (_unbound)
        {
            return;
        }

        var request = _gate!.Pass(buffer, length, from);
        if (request is not null && _admission.TryAdmit(from, _peers.Count) is { } slot)
        {
            StartHandshake(from, request, slot);
        }
    }

    void IDtlsConnectionOwner.OnClientHelloFromEstablishedPeer(DtlsConnection connection, ReadOnlySpan<byte> datagram)
    {
        lock (_dispatchLock)
        {
            Statistics.OnDatagramReceived();
            if (_unbound)
            {
                return;
            }

            // A late duplicate or retransmission of the ClientHello that made this connection (same random): not a
            // restart. The network may deliver it after the handshake finished; it must not end the new connection.
            if (ClientHelloRecord.Random(datagram).SequenceEqual(connection.ClientHelloRandom))
            {
                return;
            }

            // The same stateless cookie exchange as for a new peer (the HelloVerifyRequest leaves from the listening
            // socket, same address and port); only a verified ClientHello may end the old connection.
            var from = connection.PeerAddress;
            var request = _gate!.VerifyCookie(datagram, from);
            if (request is null)
            {
                return;
            }

            // The peer restarted: its old session is dead. Free the 4-tuple before binding a new socket to it.
            _peers.TryRemove(from, connection);
            DtlsLog.PeerRestarted(_logger, connection.ConnectionId, connection.RemoteEndPoint!);
            connection.AbortForReplacement();
            if (_admission.TryAdmit(from, _peers.Count) is { } slot)
            {
                StartHandshake(from, request, slot);
            }
        }
    }

    private void StartHandshake(SocketAddress from, VerifiedClientHello request, HandshakeSlot slot)
    {
        var peerAddress = from.Clone();
        var remoteEndPoint = peerAddress.ToIPEndPoint();

        Socket? socket = null;
        DtlsConnection connection;
        try
        {
            socket = UdpSockets.ConnectPeer(_boundEndPoint, remoteEndPoint, _gate!.AnsweringFrom);
            var datagrams = new HandshakeTransport(socket, _handshakeReceiveLimit,
                sendLimit: DatagramSizes.ForConnectedSocket(socket, _options.MaxDatagramSize), capacity: 64);
            connection = new DtlsConnection(socket, peerAddress, remoteEndPoint, datagrams, this, _memoryPool, _timeProvider, _connectionLogger, _metrics,
                _options.UnsafePreferInlineScheduling, _options.MaxDatagramSize, _options.UseOwnReceiveLoops ? PeerReceiveEngine.Shared : null)
            {
                ClientHelloRandom = ClientHelloRecord.Random(request.Datagram.Span).ToArray(),
                ListeningEndPoint = _boundEndPoint,
            };
        }
        catch (Exception ex)
        {
            socket?.Dispose();
            slot.Finish();
            Statistics.OnHandshakeFailed(duration: null, "socket_error");
            DtlsLog.HandshakeFailed(_logger, "-", remoteEndPoint, "could not create the peer socket", ex);
            return;
        }

        _peers.TryAdd(peerAddress, connection);
        Statistics.OnPeerSocketCreated();
        DtlsLog.PeerSocketCreated(_logger, remoteEndPoint, connection.LocalEndPoint, connection.ConnectionId);
        slot.Evict = connection.AbortForEviction;
        try
        {
            // Read on the listener's thread, from the verified ClientHello's copy (our own handshake's transcript starts with it).
            var hello = _options.UseOwnServerHandshake && ClientHelloMessage.TryRead(request.Datagram, out var read) ? read : null;
            if (hello is not null && _serverHandshake.TryPlanBetweenDatagrams(connection, hello, out var plan))
            {
                bool onLoop = _mayStartHandshakeOnLoop;
                _mayStartHandshakeOnLoop = false;
                if (onLoop && slot.TryEnterCpu())
                {
                    // The loop has nothing else waiting: the first flight is computed here, with no hand-off at all.
                    StartBetweenDatagrams(connection, hello, plan, slot);
                }
                else
                {
                    // A burst: the first flights go to a few handshake threads that take them in turn (one wake-up
                    // for many), while the loop reads on.
                    _handshakes.QueueFirstFlight(slot, () =>
                    {
                        slot.EnterCpu(continuing: false);
                        StartBetweenDatagrams(connection, hello, plan, slot);
                    });
                }

                return;
            }

            _handshakes.Run(slot, () => RunHandshake(connection, request, hello, slot));
        }
        catch (ObjectDisposedException)
        {
            // Unbound meanwhile: the connection ends with the other unaccepted ones.
            _ = connection.AbortAndDisposeAsync("The DTLS listener was unbound before the handshake started.");
        }
    }

    /// <summary>
    /// Our own handshake's first flight (with a CPU pass held), then its handshake goes on between datagrams; its end
    /// comes to <see cref="IServerHandshakeOwner"/>, which finishes its slot.
    /// </summary>
    private void StartBetweenDatagrams(DtlsConnection connection, ClientHelloMessage hello, EcdheServerPlan plan, HandshakeSlot slot)
    {
        long started = _timeProvider.GetTimestamp();
        Statistics.OnHandshakeStarted();
        _serverHandshake.Start(connection, hello, plan, slot, started, this);
    }

    /// <summary>Runs on a handshake thread: the whole handshake, then the accept queue.</summary>
    private void RunHandshake(DtlsConnection connection, VerifiedClientHello request, ClientHelloMessage? clientHello, HandshakeSlot slot)
    {
        long started = _timeProvider.GetTimestamp();
        Statistics.OnHandshakeStarted();
        CompletedHandshake handshake;
        try
        {
            handshake = _serverHandshake.Run(connection, request, clientHello, slot, started);
        }
        catch (Exception ex)
        {
            ((IServerHandshakeOwner)this).OnHandshakeFailed(connection, slot, started, ex);
            return;
        }

        ((IServerHandshakeOwner)this).OnHandshakeCompleted(connection, slot, started, handshake);
    }

    void IServerHandshakeOwner.OnHandshakeCompleted(DtlsConnection connection, HandshakeSlot slot, long started, CompletedHandshake handshake)
    {
        if (slot.IsEvicted)
        {
            // Its place went to a new peer while the client's last flight was being processed: the connection is
            // closing already, so it does not reach the accept queue.
            handshake.Records.Dispose();
            ((IServerHandshakeOwner)this).OnHandshakeFailed(connection, slot, started, new IOException("The DTLS connection was closed."));
            return;
        }

        try
        {
            connection.OnHandshakeCompleted(handshake);

            // Done: its place is free for the next peer now, not after the accept queue.
            slot.Finish();
            connection.ReleaseHandshakeTransport();
        }
        catch (Exception ex)
        {
            ((IServerHandshakeOwner)this).OnHandshakeFailed(connection, slot, started, ex);
            return;
        }

        Statistics.OnHandshakeCompleted(handshake.Duration, handshake.CipherSuiteName, handshake.IsResumed, handshake.IsOwnHandshake);
        if (_logger.IsEnabled(LogLevel.Debug))
        {
            DtlsLog.HandshakeCompleted(_logger, connection.ConnectionId, connection.RemoteEndPoint!, handshake.CipherSuiteName, handshake.Duration.TotalMilliseconds);
        }

        if (PeerReceiveLoop.Current is { } loop)
        {
            // Finished between datagrams on a receive loop: Kestrel gets it when the loop runs out of events, with any
            // others the loop finishes meanwhile (see PeerReceiveLoop.RunWhenIdle).
            loop.RunWhenIdle(this, connection);
            return;
        }

        Deliver(connection);
    }

    void IIdleWork.RunWhenIdle(object state) => Deliver((DtlsConnection)state);

    /// <summary>Puts a finished handshake's connection in the accept queue, or ends it if there is no room.</summary>
    private void Deliver(DtlsConnection connection)
    {
        if (_unbound || !_acceptQueue.Writer.TryWrite(connection))
        {
            // Logged before counted, as PeerAdmission's refusals are.
            if (!_unbound && _refusalLog.ShouldLog())
            {
                DtlsLog.AcceptQueueFull(_logger, connection.ConnectionId, connection.RemoteEndPoint!, _options.AcceptQueueLength);
            }

            Statistics.OnConnectionRefused();

            _ = connection.AbortAndDisposeAsync("The connection was refused: the accept queue is full or the listener is unbound.");
        }
    }

    void IServerHandshakeOwner.OnHandshakeFailed(DtlsConnection connection, HandshakeSlot slot, long started, Exception error)
    {
        if (slot.IsEvicted)
        {
            // Logged (at most once a second) where it was decided: PeerAdmission.
            Statistics.OnHandshakeFailed(_timeProvider.GetElapsedTime(started), "evicted");
            DtlsLog.ConnectionError(_logger, connection.ConnectionId, connection.RemoteEndPoint!,
                $"the handshake gave way to a new peer after waiting {slot.EvictedAfter.TotalSeconds:F1} s for this one", null);
        }
        else
        {
            Statistics.OnHandshakeFailed(_timeProvider.GetElapsedTime(started), HandshakeFailure.ErrorType(error));
            DtlsLog.HandshakeFailed(_logger, connection.ConnectionId, connection.RemoteEndPoint!, HandshakeFailure.Describe(error), HandshakeFailure.ForLog(error));
        }

        // The place is free before the connection's end is awaited (a handshake thread's finishes it again: no-op).
        slot.Finish();
        connection.Datagrams.EndHandshake();
        _ = connection.AbortAndDisposeAsync("The DTLS handshake failed.");
    }

    private void OnHeartbeat()
    {
        long now = _timeProvider.GetTimestamp();
        foreach (var peer in _peers.Connections)
        {
            peer.CheckIdle(now, _options.IdleTimeout);
        }
    }

    void IDtlsConnectionOwner.OnConnectionClosed(DtlsConnection connection)
    {
        _peers.TryRemove(connection.PeerAddress, connection);
        if (connection.ReservedConnectionId is { } id)
        {
            _connectionIds?.Release(id, connection);
        }

        Statistics.OnConnectionClosed();
    }

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            while (await _acceptQueue.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                if (_acceptQueue.Reader.TryRead(out var connection))
                {
                    connection.IsAccepted = true;
                    return connection;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }

        return null;
    }

    public async ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        if (_unbound)
        {
            return;
        }

        _unbound = true;
        _listenSocket?.Dispose();
        StopReceiving();
        await _receiveLoop.ConfigureAwait(false);
        _acceptQueue.Writer.TryComplete();
        _gate?.Dispose();
        _handshakes.Dispose();
        DtlsLog.Unbound(_logger, _boundEndPoint);

        // Peers that Kestrel never got (in handshake or waiting in the accept queue) end here; accepted ones go on.
        await DisposeUnacceptedAsync().ConfigureAwait(false);
    }

    private async Task DisposeUnacceptedAsync()
    {
        var pending = new List<Task>();
        while (_acceptQueue.Reader.TryRead(out var queued))
        {
            pending.Add(queued.AbortAndDisposeAsync("The DTLS listener was unbound before the connection was accepted."));
        }

        foreach (var peer in _peers.Connections)
        {
            if (!peer.IsAccepted)
            {
                pending.Add(peer.AbortAndDisposeAsync("The DTLS listener was unbound before the connection was accepted."));
            }
        }

        await Task.WhenAll(pending).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await UnbindAsync().ConfigureAwait(false);
        _heartbeat?.Dispose();
    }
}
