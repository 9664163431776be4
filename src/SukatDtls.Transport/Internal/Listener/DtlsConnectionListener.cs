using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// One bound DTLS endpoint: the listening UDP socket, the stateless cookie exchange, the table of verified peers, the
/// handshakes and the queue of established connections waiting for Kestrel's accept loop.
/// </summary>
/// <remarks>
/// A new peer costs nothing until it returns a valid cookie: only then does it get its own UDP socket, bound to the
/// listening address and port (SO_REUSEADDR + SO_REUSEPORT) and <c>connect()</c>ed to the peer, so the kernel hands
/// that peer's datagrams to its socket from then on, like TCP's <c>accept()</c>.
/// </remarks>
internal sealed class DtlsConnectionListener : IConnectionListener, IDtlsConnectionOwner
{
    private readonly DtlsEndPoint _requestedEndPoint;
    private readonly DtlsTransportOptions _options;
    private readonly ServerPeerSettings _peerSettings;
    private readonly BcTlsCrypto _crypto;
    private readonly MemoryPool<byte> _memoryPool;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly ILogger _connectionLogger;
    private readonly ConcurrentDictionary<SocketAddress, DtlsConnection> _peers = new();
    private readonly Channel<DtlsConnection> _acceptQueue;
    private readonly HandshakeWorkerPool _handshakes;
    private readonly DtlsMetrics? _metrics;
    private readonly Lock _dispatchLock = new();
    private readonly HelloVerifySender _helloVerifySender = new();
    private readonly byte[] _strayBuffer = new byte[DtlsConnection.MaxRecordDatagramSize];
    private readonly byte[] _reassembledClientHello = new byte[DtlsConnection.MaxRecordDatagramSize];
    private readonly ClientHelloReassembler _clientHelloReassembler;

    private Socket? _listenSocket;
    private IPEndPoint _boundEndPoint = null!;
    private CookieVerifier? _cookies;
    private ITimer? _heartbeat;
    private Task _receiveLoop = Task.CompletedTask;
    private volatile bool _unbound;
    private long _lastRefusalLogTimestamp;

    // ConcurrentDictionary.Count takes every lock of the table: keep our own count for the per-datagram check.
    private int _peerCount;
    private readonly HandshakeRateLimiter? _rateLimiter;
    private int _disposed;

    public DtlsConnectionListener(
        DtlsEndPoint endPoint,
        DtlsTransportOptions options,
        ServerCredentialsProvider credentials,
        BcTlsCrypto crypto,
        MemoryPool<byte> memoryPool,
        TimeProvider timeProvider,
        ILoggerFactory loggerFactory,
        DtlsMetrics? metrics = null)
    {
        _requestedEndPoint = endPoint;
        _options = options;
        _peerSettings = new ServerPeerSettings(crypto, credentials, options, loggerFactory.CreateLogger(DtlsSecurityLog.Category))
        {
            Sessions = options.EnableSessionResumption
                ? options.SessionCache ?? new MemoryDtlsSessionCache(options.MaxCachedSessions, options.SessionLifetime, timeProvider)
                : null,
            TimeProvider = timeProvider,
        };
        _crypto = crypto;
        _memoryPool = memoryPool;
        _timeProvider = timeProvider;
        _logger = loggerFactory.CreateLogger("SukatDtls.Transport.Listener");
        _metrics = metrics;
        Statistics = new DtlsListenerStatistics(metrics);
        _connectionLogger = loggerFactory.CreateLogger("SukatDtls.Transport.Connection");
        _acceptQueue = Channel.CreateBounded<DtlsConnection>(new BoundedChannelOptions(options.AcceptQueueLength)
        {
            SingleReader = false,
            SingleWriter = false,
        });
        _handshakes = new HandshakeWorkerPool(options.MaxConcurrentHandshakes, options.HandshakeQueueLength, "DTLS handshake");
        EndPoint = endPoint;
        // Bounded state before the cookie: 128 ClientHellos of at most 8 KiB in progress, 5 s each (about 1 MiB at worst).
        _clientHelloReassembler = new ClientHelloReassembler(maxPeers: 128, maxMessageLength: 8192, TimeSpan.FromSeconds(5), timeProvider);
        if (options.MaxHandshakesPerSecondPerAddress is { } perSecond)
        {
            _rateLimiter = new HandshakeRateLimiter(perSecond, timeProvider);
        }
    }

    public EndPoint EndPoint { get; private set; }

    public DtlsListenerStatistics Statistics { get; }

    /// <summary>Peers with a socket of their own: in handshake, waiting for accept, or established.</summary>
    public int PeerCount => Volatile.Read(ref _peerCount);

    public HandshakeWorkerPool Handshakes => _handshakes;

    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    public void Bind()
    {
        var requested = _requestedEndPoint.IPEndPoint;
        if (requested.Port != 0)
        {
            EnsurePortIsFree(requested);
        }

        var socket = CreateUdpSocket(requested);
        try
        {
            socket.Bind(requested);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            socket.Dispose();
            throw new AddressInUseException($"UDP address {requested} is already in use.", ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        _listenSocket = socket;
        _boundEndPoint = (IPEndPoint)socket.LocalEndPoint!;
        EndPoint = new DtlsEndPoint(_boundEndPoint);
        _helloVerifySender.Socket = socket;
        _cookies = new CookieVerifier(_crypto, _timeProvider, _options.CookieKeyRotationInterval,
            () => DtlsLog.CookieKeyRotated(_logger, _boundEndPoint));

        if (_options.IdleTimeout != Timeout.InfiniteTimeSpan)
        {
            var period = TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(1).Ticks, _options.IdleTimeout.Ticks));
            _heartbeat = _timeProvider.CreateTimer(static state => ((DtlsConnectionListener)state!).OnHeartbeat(), this, period, period);
        }

        _receiveLoop = ReceiveLoopAsync(socket);
        DtlsLog.Listening(_logger, _boundEndPoint);
        DtlsLog.CryptoProviders(_logger, _boundEndPoint, PlatformTlsCrypto.X25519Provider, PlatformTlsCrypto.AeadProvider);
    }

    /// <summary>
    /// The listening socket must share its port with the per-peer sockets (SO_REUSEPORT), and SO_REUSEPORT would let it
    /// share the port silently with another process too. A plain probe bind first makes "port in use" an error.
    /// </summary>
    private static void EnsurePortIsFree(IPEndPoint endPoint)
    {
        using var probe = new Socket(endPoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        if (endPoint.AddressFamily == AddressFamily.InterNetworkV6 && endPoint.Address.Equals(IPAddress.IPv6Any))
        {
            probe.DualMode = true;
        }

        try
        {
            probe.Bind(endPoint);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            throw new AddressInUseException($"UDP address {endPoint} is already in use.", ex);
        }
    }

    private static Socket CreateUdpSocket(IPEndPoint local)
    {
        var socket = new Socket(local.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            if (local.AddressFamily == AddressFamily.InterNetworkV6)
            {
                // [::] serves IPv4 peers too (as ::ffff:a.b.c.d); a specific IPv6 address serves IPv6 only.
                socket.DualMode = local.Address.Equals(IPAddress.IPv6Any);
            }

            // On Unix this sets SO_REUSEADDR and SO_REUSEPORT: per-peer sockets bind the same address and port.
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

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
            datagram.CopyTo(_strayBuffer);
            Dispatch(_strayBuffer, datagram.Length, from);
        }
    }

    /// <summary>Routes one datagram that arrived on the listening socket. Runs under <see cref="_dispatchLock"/>.</summary>
    private void Dispatch(byte[] buffer, int length, SocketAddress from)
    {
        Statistics.OnDatagramReceived();

        // A known peer whose datagram was queued here before its socket was connected: hand it over, never lose it.
        if (_peers.TryGetValue(from, out var known))
        {
            known.OnForwardedDatagram(buffer.AsSpan(0, length));
            Statistics.OnDatagramForwarded();
            return;
        }

        if (_unbound)
        {
            return;
        }

        if (!DtlsRecordHeaders.IsClientHello(buffer.AsSpan(0, length)))
        {
            Statistics.OnDatagramDropped("not_client_hello");
            if (_logger.IsEnabled(LogLevel.Trace))
            {
                DtlsLog.DatagramDropped(_logger, from.ToIPEndPoint(), length, "not a ClientHello from an unknown peer");
            }

            return;
        }

        if (ClientHelloReassembler.IsFragment(buffer.AsSpan(0, length)))
        {
            // A ClientHello too large for one of the client's datagrams: the verifier needs it whole.
            length = _clientHelloReassembler.Add(from, buffer.AsSpan(0, length), _reassembledClientHello);
            if (length == 0)
            {
                Statistics.OnClientHelloFragmentHeld();
                return;
            }

            buffer = _reassembledClientHello;
            Statistics.OnClientHelloReassembled();
        }

        var request = VerifyCookie(buffer, length, from);
        if (request is not null && Admit(from))
        {
            StartHandshake(from, request, buffer.AsSpan(0, length));
        }
    }

    /// <summary>
    /// The stateless cookie check: the request to continue with when the ClientHello carries a valid cookie; otherwise
    /// a HelloVerifyRequest went out (or the datagram was dropped) and null is returned.
    /// </summary>
    private DtlsRequest? VerifyCookie(byte[] buffer, int length, SocketAddress from)
    {
        // Stateless until the cookie checks out: the client id and BouncyCastle's parse are transient.
        byte[] clientId = from.Buffer.Span[..from.Size].ToArray();
        _helloVerifySender.Target = from;
        DtlsRequest? request;
        bool cookieSent;
        try
        {
            request = _cookies!.Verify(clientId, buffer, length, _helloVerifySender, out cookieSent);
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or InvalidOperationException or IndexOutOfRangeException)
        {
            request = null;
            cookieSent = false;
        }

        if (request is null)
        {
            if (cookieSent)
            {
                Statistics.OnCookieSent();
                if (_logger.IsEnabled(LogLevel.Debug))
                {
                    DtlsLog.CookieSent(_logger, from.ToIPEndPoint());
                }
            }
            else
            {
                Statistics.OnDatagramDropped("bad_client_hello");
                if (_logger.IsEnabled(LogLevel.Trace))
                {
                    DtlsLog.DatagramDropped(_logger, from.ToIPEndPoint(), length, "unparsable or fragmented ClientHello");
                }
            }

            return null;
        }

        return request;
    }

    /// <summary>The limits, checked once the peer proved its address: true when a handshake may start (slot reserved).</summary>
    private bool Admit(SocketAddress from)
    {
        if (_options.MaxConnections is { } maxConnections && Volatile.Read(ref _peerCount) >= maxConnections)
        {
            Statistics.OnRefusedByConnectionLimit();
            if (ShouldLogRefusal())
            {
                DtlsLog.ConnectionLimitReached(_logger, from.ToIPEndPoint(), maxConnections);
            }

            return false;
        }

        if (_rateLimiter is not null && !_rateLimiter.TryAcquire(from.ToIPEndPoint().Address))
        {
            Statistics.OnRefusedByRateLimit();
            if (ShouldLogRefusal())
            {
                DtlsLog.HandshakeRateLimited(_logger, from.ToIPEndPoint(), _options.MaxHandshakesPerSecondPerAddress!.Value);
            }

            return false;
        }

        if (!_handshakes.TryReserve())
        {
            // No answer: the peer retransmits its ClientHello (with the cookie, still valid) and gets in later.
            Statistics.OnHandshakeRefused();
            if (ShouldLogRefusal())
            {
                DtlsLog.HandshakeCapacityExceeded(_logger, from.ToIPEndPoint(), _options.MaxConcurrentHandshakes);
            }

            return false;
        }

        return true;
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
            if (DtlsRecordHeaders.ClientHelloRandom(datagram).SequenceEqual(connection.ClientHelloRandom))
            {
                return;
            }

            // The same stateless cookie exchange as for a new peer (the HelloVerifyRequest leaves from the listening
            // socket, same address and port); only a verified ClientHello may end the old connection.
            datagram.CopyTo(_strayBuffer);
            var from = connection.PeerAddress;
            var request = VerifyCookie(_strayBuffer, datagram.Length, from);
            if (request is null)
            {
                return;
            }

            // The peer restarted: its old session is dead. Free the 4-tuple before binding a new socket to it.
            if (_peers.TryRemove(new KeyValuePair<SocketAddress, DtlsConnection>(from, connection)))
            {
                Interlocked.Decrement(ref _peerCount);
            }

            DtlsLog.PeerRestarted(_logger, connection.ConnectionId, connection.RemoteEndPoint!);
            connection.AbortForReplacement();
            if (Admit(from))
            {
                StartHandshake(from, request, datagram);
            }
        }
    }

    private void StartHandshake(SocketAddress from, DtlsRequest request, ReadOnlySpan<byte> clientHello)
    {
        var peerAddress = new SocketAddress(from.Family, from.Size);
        from.Buffer.Span[..from.Size].CopyTo(peerAddress.Buffer.Span);
        var remoteEndPoint = peerAddress.ToIPEndPoint();

        Socket? socket = null;
        DtlsConnection connection;
        try
        {
            socket = CreateUdpSocket(_boundEndPoint);
            socket.Bind(_boundEndPoint);
            socket.Connect(remoteEndPoint);
            var datagrams = new DatagramQueueTransport(socket, DtlsConnection.MaxRecordDatagramSize,
                sendLimit: DatagramSizes.ForConnectedSocket(socket, _options.MaxDatagramSize), capacity: 64);
            connection = new DtlsConnection(socket, peerAddress, remoteEndPoint, datagrams, this, _memoryPool, _timeProvider, _connectionLogger, _metrics,
                _options.UnsafePreferInlineScheduling)
            {
                ClientHelloRandom = DtlsRecordHeaders.ClientHelloRandom(clientHello).ToArray(),
            };
        }
        catch (Exception ex)
        {
            socket?.Dispose();
            _handshakes.CancelReservation();
            Statistics.OnHandshakeFailed(duration: null, "socket_error");
            DtlsLog.HandshakeFailed(_logger, "-", remoteEndPoint, "could not create the peer socket", ex);
            return;
        }

        _peers[peerAddress] = connection;
        Interlocked.Increment(ref _peerCount);
        Statistics.OnPeerSocketCreated();
        DtlsLog.PeerSocketCreated(_logger, remoteEndPoint, connection.LocalEndPoint, connection.ConnectionId);
        connection.StartReceiving();
        _handshakes.Run(() => RunHandshake(connection, request));
    }

    /// <summary>Runs on a handshake thread: BouncyCastle's handshake blocks until done, failed or timed out.</summary>
    private void RunHandshake(DtlsConnection connection, DtlsRequest request)
    {
        long started = _timeProvider.GetTimestamp();
        Statistics.OnHandshakeStarted();
        try
        {
            var server = new DtlsServerPeer(_peerSettings, connection);
            var dtls = new DtlsServerProtocol().Accept(server, connection.Datagrams, request);
            server.StoreNewSession();
            var duration = _timeProvider.GetElapsedTime(started);
            connection.OnHandshakeCompleted(dtls, server.Context, duration);
            var session = (Features.IDtlsSessionFeature)connection;
            Statistics.OnHandshakeCompleted(duration, session.CipherSuiteName, session.IsResumed);
            if (_logger.IsEnabled(LogLevel.Debug))
            {
                DtlsLog.HandshakeCompleted(_logger, connection.ConnectionId, connection.RemoteEndPoint!,
                    ((Features.IDtlsSessionFeature)connection).CipherSuiteName, duration.TotalMilliseconds);
            }
        }
        catch (Exception ex)
        {
            Statistics.OnHandshakeFailed(_timeProvider.GetElapsedTime(started), HandshakeErrorType(ex));
            DtlsLog.HandshakeFailed(_logger, connection.ConnectionId, connection.RemoteEndPoint!, DescribeHandshakeFailure(ex), ex is TlsTimeoutException ? null : ex);
            _ = connection.AbortAndDisposeAsync("The DTLS handshake failed.");
            return;
        }

        if (_unbound || !_acceptQueue.Writer.TryWrite(connection))
        {
            Statistics.OnConnectionRefused();
            if (!_unbound && ShouldLogRefusal())
            {
                DtlsLog.AcceptQueueFull(_logger, connection.ConnectionId, connection.RemoteEndPoint!, _options.AcceptQueueLength);
            }

            _ = connection.AbortAndDisposeAsync("The connection was refused: the accept queue is full or the listener is unbound.");
        }
    }

    /// <summary>Refusals come in floods under load or attack: log at most one a second (they are all counted).</summary>
    private bool ShouldLogRefusal()
    {
        long now = _timeProvider.GetTimestamp();
        long last = Interlocked.Read(ref _lastRefusalLogTimestamp);
        return (last == 0 || _timeProvider.GetElapsedTime(last, now) >= TimeSpan.FromSeconds(1))
            && Interlocked.CompareExchange(ref _lastRefusalLogTimestamp, now, last) == last;
    }

    /// <summary>The <c>error.type</c> tag of a failed handshake: low-cardinality names only.</summary>
    private static string HandshakeErrorType(Exception ex) => ex switch
    {
        TlsTimeoutException => "timeout",
        TlsFatalAlertReceived received => "peer_" + AlertDescription.GetName(received.AlertDescription),
        TlsFatalAlert alert => AlertDescription.GetName(alert.AlertDescription),
        _ => ex.GetType().Name,
    };

    private static string DescribeHandshakeFailure(Exception ex) => ex switch
    {
        TlsTimeoutException => "timed out",
        TlsFatalAlertReceived received => $"the peer sent alert {AlertDescription.GetText(received.AlertDescription)}",
        TlsFatalAlert alert => $"{AlertDescription.GetText(alert.AlertDescription)}: {alert.Message}",
        _ => ex.Message,
    };

    private void OnHeartbeat()
    {
        long now = _timeProvider.GetTimestamp();
        foreach (var peer in _peers)
        {
            peer.Value.CheckIdle(now, _options.IdleTimeout);
        }
    }

    void IDtlsConnectionOwner.OnConnectionClosed(DtlsConnection connection)
    {
        if (_peers.TryRemove(new KeyValuePair<SocketAddress, DtlsConnection>(connection.PeerAddress, connection)))
        {
            Interlocked.Decrement(ref _peerCount);
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
        await _receiveLoop.ConfigureAwait(false);
        _acceptQueue.Writer.TryComplete();
        _cookies?.Dispose();
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

        foreach (var peer in _peers.Values)
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

    /// <summary>Sends HelloVerifyRequests from the listening socket to the peer being answered.</summary>
    private sealed class HelloVerifySender : DatagramSender
    {
        public Socket? Socket { get; set; }

        public SocketAddress? Target { get; set; }

        public int GetSendLimit() => 1200;

        public void Send(byte[] buf, int off, int len) => Send(buf.AsSpan(off, len));

        public void Send(ReadOnlySpan<byte> buffer)
        {
            try
            {
                Socket!.SendTo(buffer, SocketFlags.None, Target!);
            }
            catch (SocketException)
            {
                // Best effort, like any datagram: the client retransmits its ClientHello.
            }
        }
    }
}
