using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
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

        if (_options.IdleTimeout != Timeout.InfiniteTimeSpan)
        {
            var period = TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(1).Ticks, _options.IdleTimeout.Ticks));
            _heartbeat = _timeProvider.CreateTimer(static state => ((DtlsConnectionFactory)state!).OnHeartbeat(), this, period, period);
        }
    }

    /// <summary>
    /// Connects to <paramref name="endpoint"/>: a <see cref="DtlsEndPoint"/>, an <see cref="IPEndPoint"/> or a
    /// <see cref="DnsEndPoint"/> (resolved; the host name is then the name the certificate must carry).
    /// </summary>
    /// <exception cref="TimeoutException">The server did not complete the handshake within <see cref="DtlsClientOptions.HandshakeTimeout"/>.</exception>
    /// <exception cref="AuthenticationException">The server certificate was rejected, or the server refused the handshake.</exception>
    /// <exception cref="SocketException">The host name could not be resolved, or the socket failed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public ValueTask<ConnectionContext> ConnectAsync(EndPoint endpoint, CancellationToken cancellationToken = default) =>
        ConnectAsync(endpoint, sessionToResume: null, cancellationToken);

    /// <summary>
    /// Connects as <see cref="ConnectAsync(EndPoint, CancellationToken)"/>, offering to resume
    /// <paramref name="sessionToResume"/> (from <see cref="Features.IDtlsSessionFeature.ResumableSession"/> of an earlier
    /// connection to the same server name) with an abbreviated handshake. The server may decline; then a full handshake
    /// runs. <see cref="Features.IDtlsSessionFeature.IsResumed"/> tells which happened.
    /// </summary>
    /// <inheritdoc cref="ConnectAsync(EndPoint, CancellationToken)" path="/exception"/>
    public async ValueTask<ConnectionContext> ConnectAsync(EndPoint endpoint, DtlsResumableSession? sessionToResume, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        var (remote, hostName) = await ResolveAsync(endpoint, cancellationToken).ConfigureAwait(false);
        string serverName = _options.ServerName ?? hostName ?? remote.Address.ToString();
        bool sendServerName = Uri.CheckHostName(serverName) == UriHostNameType.Dns;

        if (_handshakes.TryAdmit(prefix: 0, out _) is not { } slot)
        {
            throw new InvalidOperationException($"Too many DTLS client handshakes in progress ({_options.MaxConcurrentHandshakes}); see {nameof(DtlsClientOptions)}.{nameof(DtlsClientOptions.MaxConcurrentHandshakes)}.");
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

        var peer = new DtlsClientPeer(_crypto, _options, serverName, sendServerName, _clientCredentials, connection,
            sessionToResume is not null && sessionToResume.ServerName == serverName ? sessionToResume : null);
        var handshake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        long started = _timeProvider.GetTimestamp();
        try
        {
            _handshakes.Run(slot, () =>
            {
                try
                {
                    connection.OnHandshakeCompleted(ClientHandshake.Run(peer, connection, slot, () => _timeProvider.GetElapsedTime(started)));
                    handshake.TrySetResult();
                }
                catch (Exception ex)
                {
                    connection.Datagrams.EndHandshake();
                    handshake.TrySetException(ex);
                }
            });
        }
        catch (ObjectDisposedException)
        {
            await connection.AbortAndDisposeAsync("The DTLS client factory was disposed.").ConfigureAwait(false);
            throw;
        }

        try
        {
            using (cancellationToken.UnsafeRegister(static state => ((DtlsConnection)state!).Abort(new ConnectionAbortedException("The connect was cancelled.")), connection))
            {
                await handshake.Task.ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            await connection.AbortAndDisposeAsync("The DTLS handshake failed.").ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            throw TranslateHandshakeFailure(ex, remote, peer);
        }

        ClientLog.Connected(_logger, connection.ConnectionId, remote, ((Features.IDtlsSessionFeature)connection).CipherSuiteName);
        return connection;
    }

    private DtlsConnection CreateConnection(IPEndPoint remote)
    {
        var socket = UdpSockets.ConnectClient(remote);
        try
        {
            var datagrams = new HandshakeTransport(socket, DtlsConnection.MaxRecordDatagramSize,
                sendLimit: DatagramSizes.ForConnectedSocket(socket, _options.MaxDatagramSize), capacity: 64);
            var connection = new DtlsConnection(socket, remote.Serialize(), remote, datagrams, _connections, MemoryPool<byte>.Shared, _timeProvider, _logger,
                inlineApplicationReads: _options.UnsafePreferInlineScheduling, maxDatagramSize: _options.MaxDatagramSize);
            _connections.Add(connection);
            connection.StartReceiving();
            return connection;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static async ValueTask<(IPEndPoint Remote, string? HostName)> ResolveAsync(EndPoint endpoint, CancellationToken cancellationToken)
    {
        switch (endpoint)
        {
            case DtlsEndPoint dtls:
                return (dtls.IPEndPoint, null);
            case IPEndPoint ip:
                return (ip, null);
            case DnsEndPoint dns:
                var addresses = await Dns.GetHostAddressesAsync(dns.Host, dns.AddressFamily, cancellationToken).ConfigureAwait(false);
                if (addresses.Length == 0)
                {
                    throw new SocketException((int)SocketError.HostNotFound, $"The host name '{dns.Host}' has no address.");
                }

                return (new IPEndPoint(addresses[0], dns.Port), dns.Host);
            default:
                throw new NotSupportedException($"The DTLS client connects to IP, DNS and DTLS endpoints, not {endpoint.GetType().Name} '{endpoint}'.");
        }
    }

    private Exception TranslateHandshakeFailure(Exception ex, IPEndPoint remote, DtlsClientPeer peer)
    {
        if (peer.CertificateRejection is { } rejection)
        {
            return new AuthenticationException($"The server certificate of {remote} was rejected: {rejection}.", ex);
        }

        return ex switch
        {
            TlsTimeoutException => new TimeoutException(
                $"No DTLS handshake with {remote} within {_options.HandshakeTimeout.TotalSeconds:0.###} s: the server did not answer.", ex),
            TlsFatalAlertReceived received => new AuthenticationException(
                $"The server {remote} refused the handshake with alert {AlertDescription.GetText(received.AlertDescription)}{peer.ExplainServerAlert(received.AlertDescription)}.", ex),
            TlsFatalAlert alert => new AuthenticationException(
                $"The DTLS handshake with {remote} failed: {AlertDescription.GetText(alert.AlertDescription)} ({alert.Message}).", ex),
            _ => new IOException($"The DTLS handshake with {remote} failed: {ex.Message}", ex),
        };
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
