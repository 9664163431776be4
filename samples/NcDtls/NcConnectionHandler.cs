using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Logging;
using SukatDtls.Transport.Features;

namespace SukatDtls.Samples.NcDtls;

/// <summary>
/// One established DTLS client of the listener: its data goes to standard output (each read whole, never interleaved
/// with another client's), and it receives standard input through <see cref="PeerRegistry"/> until it closes.
/// </summary>
internal sealed partial class NcConnectionHandler(PeerRegistry peers, StandardOutput stdout, ILoggerFactory loggerFactory) : ConnectionHandler
{
    private readonly ILogger _logger = loggerFactory.CreateLogger(StderrLoggerProvider.Category);

    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        var remote = connection.RemoteEndPoint;
        var session = connection.Features.Get<IDtlsSessionFeature>();
        Log.Established(_logger, remote, session?.ProtocolVersion, session?.CipherSuiteName);

        // Kestrel requests the close on shutdown; ending the handler then sends close_notify.
        var closeRequested = connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? default;
        string reason = "the client sent close_notify";
        var peer = peers.Add(connection.Transport.Output);
        try
        {
            var input = connection.Transport.Input;
            while (true)
            {
                var result = await input.ReadAsync(closeRequested).ConfigureAwait(false);
                var buffer = result.Buffer;
                bool written = buffer.IsEmpty || await stdout.WriteAsync(buffer).ConfigureAwait(false);
                input.AdvanceTo(buffer.End);
                if (!written)
                {
                    reason = "standard output closed";
                    break;
                }

                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (OperationCanceledException)
        {
            reason = "nc-dtls is stopping (close_notify sent)";
        }
        catch (Exception ex) when (ex is ConnectionAbortedException or ConnectionResetException or IOException)
        {
            // Idle timeout, a fatal alert, a socket error: the transport has ended the connection.
            reason = ex.Message;
        }
        finally
        {
            await peers.RemoveAsync(peer).ConfigureAwait(false);
        }

        Log.Closed(_logger, remote, reason);
    }

    private static partial class Log
    {
        [LoggerMessage(10, LogLevel.Information, "client {RemoteEndPoint} established ({Protocol}, {CipherSuite})")]
        public static partial void Established(ILogger logger, EndPoint? remoteEndPoint, string? protocol, string? cipherSuite);

        [LoggerMessage(11, LogLevel.Information, "client {RemoteEndPoint} closed: {Reason}")]
        public static partial void Closed(ILogger logger, EndPoint? remoteEndPoint, string reason);
    }
}
