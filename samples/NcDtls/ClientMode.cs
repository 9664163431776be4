using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SukatDtls.Transport.Client;
using SukatDtls.Transport.Features;

namespace SukatDtls.Samples.NcDtls;

/// <summary>
/// <c>nc-dtls DESTINATION PORT</c>: one DTLS connection; standard input to the server, the server's data to standard
/// output. Ends on end of standard input (close_notify after all was sent), on the server's close_notify, or on
/// SIGINT/SIGTERM (close_notify).
/// </summary>
internal static partial class ClientMode
{
    private const int StdinBufferSize = 16 * 1024;

    public static async Task<int> RunAsync(NcDtlsSettings settings, ILoggerFactory loggerFactory, StandardOutput stdout, TerminationSignals signals)
    {
        var logger = loggerFactory.CreateLogger(StderrLoggerProvider.Category);
        var options = new DtlsClientOptions
        {
            HandshakeTimeout = settings.HandshakeTimeout,
            DangerousAcceptAnyServerCertificate = settings.Insecure,
            TrustedCertificateAuthorities = settings.CaFile is null ? null : CertificateFiles.LoadAuthorities(settings.CaFile),
            ClientCertificate = settings.CertificateFile is null ? null : CertificateFiles.LoadWithKey(settings.CertificateFile, settings.KeyFile).Certificate,
            RequestConnectionId = settings.ConnectionId,
        };

        string host = settings.Host!;
        var endPoint = ToEndPoint(host, settings.Port);
        Log.Connecting(logger, host, settings.Port);
        await using var factory = new DtlsConnectionFactory(Options.Create(options), loggerFactory);
        ConnectionContext connection;
        try
        {
            connection = await factory.ConnectAsync(endPoint, signals.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (signals.IsReceived)
        {
            Log.Interrupted(logger, signals.Name);
            return signals.ExitCode;
        }
        catch (SocketException ex) when (ex.SocketErrorCode is SocketError.HostNotFound or SocketError.NoData or SocketError.TryAgain)
        {
            throw new NcDtlsException($"cannot resolve the host '{host}': {ex.Message}", ex);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
        {
            // Nothing listens there (ICMP port unreachable, twice): as nc and openssl say it, without the details, which
            // -vv logs per address.
            throw new NcDtlsException($"connection refused by {host} port {settings.Port}", ex);
        }
        catch (SocketException ex)
        {
            throw new NcDtlsException($"cannot connect to {host} port {settings.Port}: {ex.Message}", ex);
        }
        catch (TimeoutException ex)
        {
            throw new NcDtlsException(
                string.Create(CultureInfo.InvariantCulture,
                    $"no answer from {host} port {settings.Port} within {settings.HandshakeTimeout.TotalSeconds:0.###} s: no DTLS server there, or it is unreachable (-w sets the wait)."),
                ex);
        }
        catch (AuthenticationException ex)
        {
            throw new NcDtlsException(ex.Message, ex);
        }
        catch (IOException ex)
        {
            throw new NcDtlsException(ex.Message, ex);
        }

        await using (connection.ConfigureAwait(false))
        {
            var session = connection.Features.Get<IDtlsSessionFeature>();
            Log.Connected(logger, connection.RemoteEndPoint, session?.ProtocolVersion, session?.CipherSuiteName);
            if (settings.ConnectionId)
            {
                // The server's ID is the one this client writes in its records: the one that lets the server find the
                // session from a new address. Without it a move ends the session (at the server's idle timeout).
                var serverId = session?.PeerConnectionId ?? ReadOnlyMemory<byte>.Empty;
                if (serverId.IsEmpty)
                {
                    Log.NoConnectionId(logger, connection.RemoteEndPoint);
                }
                else
                {
                    Log.ConnectionIdGranted(logger, Convert.ToHexStringLower(serverId.Span));
                }
            }

            return await ExchangeAsync(connection, logger, stdout, signals).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// An IP address as it is; a name under the reserved top-level domain <c>.invalid</c> (RFC 6761 §6.4) fails at once,
    /// without asking any resolver; any other name goes to the resolver (via the factory, which then checks the server
    /// certificate against that name).
    /// </summary>
    private static EndPoint ToEndPoint(string host, int port)
    {
        string literal = host.StartsWith('[') && host.EndsWith(']') ? host[1..^1] : host;
        if (IPAddress.TryParse(literal, out var address))
        {
            return new IPEndPoint(address, port);
        }

        string name = host.TrimEnd('.');
        if (name.Equals("invalid", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".invalid", StringComparison.OrdinalIgnoreCase))
        {
            throw new NcDtlsException($"cannot resolve the host '{host}': names under .invalid never resolve (RFC 6761).");
        }

        if (Uri.CheckHostName(name) != UriHostNameType.Dns)
        {
            throw new NcDtlsException($"cannot resolve the host '{host}': it is neither an IP address nor a host name.");
        }

        return new DnsEndPoint(name, port);
    }

    private static async Task<int> ExchangeAsync(ConnectionContext connection, ILogger logger, StandardOutput stdout, TerminationSignals signals)
    {
        using var output = new GuardedOutput(connection.Transport.Output);
        var fromServer = CopyToStandardOutputAsync(connection.Transport.Input, stdout);
        var toServer = Task.Run(() => CopyStandardInputAsync(output));

        var first = await Task.WhenAny(toServer, fromServer, signals.Received, stdout.Broken).ConfigureAwait(false);
        int exitCode = 0;
        if (first == fromServer)
        {
            // Before the end of standard input: the server closed (close_notify: EOF) or the connection failed.
            if (fromServer.Exception?.InnerException is { } failure)
            {
                throw new NcDtlsException($"the connection to {connection.RemoteEndPoint} failed: {failure.Message}", failure);
            }

            Log.ServerClosed(logger, connection.RemoteEndPoint);
        }
        else
        {
            if (first == toServer)
            {
                if (toServer.Exception?.InnerException is { } failure)
                {
                    Log.StandardInputFailed(logger, failure.Message);
                }
                else
                {
                    Log.EndOfInput(logger);
                }
            }
            else if (first == signals.Received)
            {
                Log.Interrupted(logger, signals.Name);
                exitCode = signals.ExitCode;
            }
            else
            {
                Log.StandardOutputClosed(logger);
                exitCode = 1;
            }

            // Stop reading from the server, then let the transport send what was written and close_notify.
            connection.Transport.Input.CancelPendingRead();
            await fromServer.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        // Standard input may still be blocked in a read that cannot be cancelled: the process exits without waiting for it.
        await output.CompleteAsync().ConfigureAwait(false);
        return exitCode;
    }

    private static async Task CopyStandardInputAsync(GuardedOutput output)
    {
        using var stdin = Console.OpenStandardInput();
        byte[] buffer = new byte[StdinBufferSize];
        try
        {
            while (true)
            {
                int read = await stdin.ReadAsync(buffer).ConfigureAwait(false);
                if (read == 0 || !await output.WriteAsync(buffer.AsMemory(0, read)).ConfigureAwait(false))
                {
                    return;
                }
            }
        }
        catch (ObjectDisposedException)
        {
            // A read that returned after the connection was closed: nothing left to send it to.
        }
    }

    private static async Task CopyToStandardOutputAsync(PipeReader input, StandardOutput stdout)
    {
        while (true)
        {
            var result = await input.ReadAsync().ConfigureAwait(false);
            var buffer = result.Buffer;
            bool written = buffer.IsEmpty || await stdout.WriteAsync(buffer).ConfigureAwait(false);
            input.AdvanceTo(buffer.End);
            if (result.IsCompleted || result.IsCanceled || !written)
            {
                return;
            }
        }
    }

    /// <summary>The connection's output pipe, written by the standard-input pump and completed by the closer, never both at once.</summary>
    private sealed class GuardedOutput(PipeWriter writer) : IDisposable
    {
        private readonly SemaphoreSlim _gate = new(1, 1);
        private bool _completed;

        /// <summary>Writes and flushes; false once the output is completed (by us or by the transport).</summary>
        public async Task<bool> WriteAsync(ReadOnlyMemory<byte> data)
        {
            await _gate.WaitAsync().ConfigureAwait(false);
            try
            {
                if (_completed)
                {
                    return false;
                }

                var flush = await writer.WriteAsync(data).ConfigureAwait(false);
                return !flush.IsCompleted && !flush.IsCanceled;
            }
            finally
            {
                _gate.Release();
            }
        }

        public async Task CompleteAsync()
        {
            await _gate.WaitAsync().ConfigureAwait(false);
            try
            {
                if (!_completed)
                {
                    _completed = true;
                    await writer.CompleteAsync().ConfigureAwait(false);
                }
            }
            finally
            {
                _gate.Release();
            }
        }

        public void Dispose() => _gate.Dispose();
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "connecting to {Host} port {Port}")]
        public static partial void Connecting(ILogger logger, string host, int port);

        [LoggerMessage(2, LogLevel.Information, "connected to {RemoteEndPoint} ({Protocol}, {CipherSuite})")]
        public static partial void Connected(ILogger logger, EndPoint? remoteEndPoint, string? protocol, string? cipherSuite);

        [LoggerMessage(3, LogLevel.Information, "end of standard input: closing (close_notify)")]
        public static partial void EndOfInput(ILogger logger);

        [LoggerMessage(4, LogLevel.Information, "the server {RemoteEndPoint} closed the connection")]
        public static partial void ServerClosed(ILogger logger, EndPoint? remoteEndPoint);

        [LoggerMessage(5, LogLevel.Information, "{Signal}: closing (close_notify)")]
        public static partial void Interrupted(ILogger logger, string signal);

        [LoggerMessage(6, LogLevel.Information, "standard output closed: closing (close_notify)")]
        public static partial void StandardOutputClosed(ILogger logger);

        [LoggerMessage(7, LogLevel.Warning, "reading standard input failed: {Error}; closing (close_notify)")]
        public static partial void StandardInputFailed(ILogger logger, string error);

        [LoggerMessage(8, LogLevel.Information, "Connection ID {ConnectionId}: the session survives a change of this client's address")]
        public static partial void ConnectionIdGranted(ILogger logger, string connectionId);

        [LoggerMessage(9, LogLevel.Error, "the server {RemoteEndPoint} granted no Connection ID (--cid): the session ends if this client's address changes")]
        public static partial void NoConnectionId(ILogger logger, EndPoint? remoteEndPoint);
    }
}
