using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.Client;

/// <summary>
/// Connects to DTLS 1.2 servers: each <see cref="ConnectAsync(EndPoint, CancellationToken)"/> makes a connected UDP socket, runs the handshake and
/// returns a <see cref="ConnectionContext"/> with the same pipes and features as the server side (including
/// <see cref="Features.IDtlsDatagramFeature"/>).
/// </summary>
public sealed class DtlsConnectionFactory : IConnectionFactory, IAsyncDisposable, IDisposable
{
    private readonly DtlsClientOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly BcTlsCrypto _crypto = new PlatformTlsCrypto(new SecureRandom());
    private readonly HandshakeScheduler _handshakes;

    // The receive buffers BouncyCastle allocates per receive: sized by what peers send, not by the protocol's maximum.
    private readonly HandshakeReceiveLimit _handshakeReceiveLimit = new(HandshakeReceiveLimit.Floor, DtlsConnection.MaxRecordDatagramSize);
    private readonly DtlsClientConnections _connections = new();
    private readonly ITimer? _heartbeat;
    private readonly CertificateCredentials? _clientCredentials;

    /// <summary>Creates the factory; normally done by dependency injection (<c>AddDtlsClient</c>).</summary>
    /// <exception cref="InvalidOperationException">The options are invalid.</exception>
    public DtlsConnectionFactory(IOptions<DtlsClientOptions> options, ILoggerFactory loggerFactory, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        _options = options.Value;
        _options.Validate();
        _logger = loggerFactory.CreateLogger("SukatDtls.Transport.Client");
        _timeProvider = timeProvider ?? TimeProvider.System;
        // A client never gives a handshake in progress away: beyond the cap, ConnectAsync throws.
        _handshakes = new HandshakeScheduler(_options.MaxConcurrentHandshakes, Timeout.InfiniteTimeSpan, "DTLS client handshake", _timeProvider);
        if (_options.ClientCertificate is { } clientCertificate)
        {
            _clientCredentials = CertificateCredentials.Create(_crypto, clientCertificate, _options.ClientCertificateChain);
        }
        else if (_options.ClientRawPublicKey is { } rawPublicKey)
        {
            _clientCredentials = CertificateCredentials.CreateRawPublicKey(_crypto, rawPublicKey);
        }

        if (_options.IdleTimeout != Timeout.InfiniteTimeSpan)
        {
            var period = TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(1).Ticks, _options.IdleTimeout.Ticks));
            _heartbeat = _timeProvider.CreateTimer(static state => ((DtlsConnectionFactory)state!).OnHeartbeat(), this, period, period);
        }
    }

    /// <summary>
    /// Connects to <paramref name="endpoint"/>: a <see cref="DtlsEndPoint"/>, an <see cref="IPEndPoint"/> or a
    /// <see cref="DnsEndPoint"/> (the host name is then the name the certificate must carry).
    /// </summary>
    /// <remarks>
    /// <para>
    /// A host name is resolved, and every address it has is tried (Happy Eyeballs, RFC 8305): in the resolver's order
    /// (RFC 6724's, as the system sorts them) with IPv6 and IPv4 alternating; the next address 250 ms after the last one
    /// started while none has answered, or at once when one fails; the first to complete the handshake wins, and the
    /// others are abandoned (their sockets closed) before this returns. <c>localhost</c> and names under it are the
    /// loopback addresses, ::1 then 127.0.0.1, without asking the resolver (RFC 6761). All attempts together take at most
    /// <see cref="DtlsClientOptions.HandshakeTimeout"/>, counted from the first.
    /// </para>
    /// <para>
    /// A port where nothing listens is refused promptly: its host answers with ICMP port unreachable. One such answer
    /// is not enough (it may have raced a server that is starting); the handshake resends its flight 250 ms later, and
    /// when that is refused too (and nothing came from the server meanwhile) the attempt ends with
    /// <see cref="SocketError.ConnectionRefused"/>. A firewall's reject (ICMP host or network "administratively
    /// prohibited") is weighed the same way and ends with <see cref="SocketError.HostUnreachable"/> or
    /// <see cref="SocketError.NetworkUnreachable"/>. Once established, a connection counts ICMP errors and goes on.
    /// </para>
    /// </remarks>
    /// <exception cref="TimeoutException">The server did not complete the handshake within <see cref="DtlsClientOptions.HandshakeTimeout"/>.</exception>
    /// <exception cref="AuthenticationException">The server certificate was rejected, or the server refused the handshake.</exception>
    /// <exception cref="SocketException">
    /// Nothing listens on the server's port (<see cref="SocketError.ConnectionRefused"/>, the message naming each
    /// address and port), a firewall rejects (<see cref="SocketError.HostUnreachable"/>,
    /// <see cref="SocketError.NetworkUnreachable"/>), the host name could not be resolved, or the socket failed.
    /// </exception>
    /// <exception cref="InvalidOperationException"><see cref="DtlsClientOptions.MaxConcurrentHandshakes"/> handshakes are in progress already.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public ValueTask<ConnectionContext> ConnectAsync(EndPoint endpoint, CancellationToken cancellationToken = default) =>
        ConnectAsync(endpoint, sessionToResume: null, cancellationToken);

    /// <summary>
    /// Connects as <see cref="ConnectAsync(EndPoint, CancellationToken)"/>, offering to resume
    /// <paramref name="sessionToResume"/> (from <see cref="Features.IDtlsSessionFeature.ResumableSession"/> of an earlier
    /// connection to the same server name) with an abbreviated handshake. The server may decline; then a full handshake
    /// runs. <see cref="Features.IDtlsSessionFeature.IsResumed"/> tells which happened.
    /// </summary>
    /// <inheritdoc cref="ConnectAsync(EndPoint, CancellationToken)" path="/remarks"/>
    /// <inheritdoc cref="ConnectAsync(EndPoint, CancellationToken)" path="/exception"/>
    public async ValueTask<ConnectionContext> ConnectAsync(EndPoint endpoint, DtlsResumableSession? sessionToResume, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        cancellationToken.ThrowIfCancellationRequested();
        var target = await ConnectTarget.ResolveAsync(endpoint, Resolver, cancellationToken).ConfigureAwait(false);
        string serverName = _options.ServerName ?? target.HostName ?? target.EndPoints[0].Address.ToString();
        bool sendServerName = Uri.CheckHostName(serverName) == UriHostNameType.Dns;
        var session = sessionToResume is not null && sessionToResume.ServerName == serverName ? sessionToResume : null;

        var race = new ConnectRace(target, (remote, timeout, required) => StartAttemptAsync(remote, timeout, required, serverName, sendServerName, session),
            _options.HandshakeTimeout, _timeProvider, _logger);
        var connection = await race.RunAsync(cancellationToken).ConfigureAwait(false);
        ClientLog.Connected(_logger, connection.ConnectionId, connection.RemoteEndPoint!, ((Features.IDtlsSessionFeature)connection).CipherSuiteName);
        return connection;
    }

    /// <summary>
    /// Resolves host names for <see cref="ConnectAsync(EndPoint, CancellationToken)"/>: the system's resolver. Tests
    /// give names real addresses of their own here, so that the network and the handshakes stay real.
    /// </summary>
    internal Func<string, AddressFamily, CancellationToken, Task<IPAddress[]>> Resolver { get; init; } = Dns.GetHostAddressesAsync;

    /// <summary>Handshakes admitted and not finished (tests: abandoned and cancelled attempts leave none).</summary>
    internal int HandshakesInProgress => _handshakes.InProgress;

    /// <summary>Connections made and not yet disposed, established or not (tests: likewise).</summary>
    internal int LiveConnections => _connections.Snapshot().Count;

    /// <summary>
    /// Starts the handshake with one address on a handshake thread, allowed <paramref name="timeout"/>. Null when no
    /// handshake place is free and the connect has other attempts to wait for (<paramref name="required"/> false).
    /// </summary>
    /// <exception cref="SocketException">The socket could not be set up (no route to the address's network, say).</exception>
    /// <exception cref="InvalidOperationException">No place, and <paramref name="required"/>.</exception>
    /// <exception cref="ObjectDisposedException">The factory was disposed.</exception>
    private async ValueTask<ConnectAttempt?> StartAttemptAsync(IPEndPoint remote, TimeSpan timeout, bool required, string serverName, bool sendServerName,
        DtlsResumableSession? session)
    {
        if (_handshakes.TryAdmit(prefix: 0, out _) is not { } slot)
        {
            return required
                ? throw new InvalidOperationException($"Too many DTLS client handshakes in progress ({_options.MaxConcurrentHandshakes}); see {nameof(DtlsClientOptions)}.{nameof(DtlsClientOptions.MaxConcurrentHandshakes)}.")
                : null;
        }

        DtlsConnection connection;
        try
        {
            connection = CreateConnection(remote);
        }
        catch
        {
            slot.Finish();
            throw;
        }

        var peer = new DtlsClientPeer(_crypto, _options, serverName, sendServerName, _clientCredentials, connection, session, timeout);
        var attempt = new ConnectAttempt(remote, connection, peer);
        long started = _timeProvider.GetTimestamp();
        try
        {
            _handshakes.Run(slot, () =>
            {
                Exception? failure = null;
                try
                {
                    connection.OnHandshakeCompleted(ClientHandshake.Run(peer, connection, slot, () => _timeProvider.GetElapsedTime(started)));
                }
                catch (Exception ex)
                {
                    connection.Datagrams.EndHandshake();
                    failure = ex;
                }

                // The place is free before the connect hears of the end: the next address may need it.
                slot.Finish();
                attempt.Complete(failure);
            });
        }
        catch (ObjectDisposedException)
        {
            await connection.AbortAndDisposeAsync("The DTLS client factory was disposed.").ConfigureAwait(false);
            throw;
        }

        return attempt;
    }

    private DtlsConnection CreateConnection(IPEndPoint remote)
    {
        var socket = UdpSockets.ConnectClient(remote);
        try
        {
            var datagrams = new HandshakeTransport(socket, _handshakeReceiveLimit,
                sendLimit: DatagramSizes.ForConnectedSocket(socket, _options.MaxDatagramSize), capacity: 64, unreachableEndsHandshake: true);
            var connection = new DtlsConnection(socket, remote.Serialize(), remote, datagrams, _connections, MemoryPool<byte>.Shared, _timeProvider, _logger,
                inlineApplicationReads: _options.UnsafePreferInlineScheduling, maxDatagramSize: _options.MaxDatagramSize,
                receiveEngine: _options.UseOwnReceiveLoops ? PeerReceiveEngine.Shared : null);
            _connections.Add(connection);
            return connection;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private void OnHeartbeat()
    {
        long now = _timeProvider.GetTimestamp();
        foreach (var connection in _connections.Snapshot())
        {
            connection.CheckIdle(now, _options.IdleTimeout);
        }
    }

    /// <summary>Stops the idle timer and the handshake threads; connections already returned stay the caller's.</summary>
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc cref="DisposeAsync"/>
    public void Dispose()
    {
        _heartbeat?.Dispose();
        _handshakes.Dispose();
    }
}
