using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using SukatDtls.Transport.Features;

namespace SukatDtls.Samples.EchoServer;

/// <summary>
/// Echoes every received DTLS record back to its sender as one record, until the peer closes. A peer may send records
/// larger than we may send back in one (it sizes its records by its own path MTU); those are echoed in pieces.
/// </summary>
public sealed partial class EchoHandler(ILogger<EchoHandler> logger) : ConnectionHandler
{
    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        var datagrams = connection.Features.Get<IDtlsDatagramFeature>()
            ?? throw new InvalidOperationException("EchoHandler serves DTLS endpoints only.");
        var session = connection.Features.Get<IDtlsSessionFeature>();
        Log.Connected(logger, connection.ConnectionId, connection.RemoteEndPoint, session?.CipherSuiteName);

        // Kestrel requests the close on shutdown: ending the handler then sends close_notify to the peer.
        var closeRequested = connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? default;
        var input = connection.Transport.Input;
        try
        {
            while (true)
            {
                // Wait for data without holding a buffer (an idle connection then costs no 16 KiB), and consume nothing:
                // the datagram view takes the record out of the same input.
                var waiting = await input.ReadAsync(closeRequested);
                input.AdvanceTo(waiting.Buffer.Start);
                if (waiting.IsCompleted && waiting.Buffer.IsEmpty)
                {
                    break;
                }

                byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(datagrams.MaxReceiveRecordSize);
                try
                {
                    int length = await datagrams.ReceiveAsync(buffer, closeRequested);
                    for (int sent = 0; sent < length; sent += datagrams.MaxRecordSize)
                    {
                        int piece = Math.Min(datagrams.MaxRecordSize, length - sent);
                        await datagrams.SendAsync(buffer.AsMemory(sent, piece), closeRequested);
                    }
                }
                finally
                {
                    System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        catch (Exception ex) when (ex is ConnectionAbortedException or OperationCanceledException)
        {
            // Aborted (idle timeout, shutdown) or gone: nothing left to echo to.
        }

        Log.Disconnected(logger, connection.ConnectionId, connection.RemoteEndPoint);
    }

    private static partial class Log
    {
        [LoggerMessage(1, LogLevel.Information, "Connection {ConnectionId} from {RemoteEndPoint} established ({CipherSuite}).")]
        public static partial void Connected(ILogger logger, string connectionId, System.Net.EndPoint? remoteEndPoint, string? cipherSuite);

        [LoggerMessage(2, LogLevel.Information, "Connection {ConnectionId} from {RemoteEndPoint} closed.")]
        public static partial void Disconnected(ILogger logger, string connectionId, System.Net.EndPoint? remoteEndPoint);
    }
}
