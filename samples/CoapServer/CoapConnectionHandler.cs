using System.Buffers;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using SukatDtls.Transport.Features;

namespace SukatDtls.Samples.CoapServer;

/// <summary>
/// CoAP over one DTLS connection (RFC 7252 §9.1): each record is one CoAP message (<see cref="IDtlsDatagramFeature"/>),
/// handled by the connection's own <see cref="CoapMessageLayer"/> (its duplicate cache is the peer's), answered with at
/// most one record.
/// </summary>
internal sealed class CoapConnectionHandler(ILogger<CoapConnectionHandler> logger, CoapRouter router, TimeProvider timeProvider) : ConnectionHandler
{
    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        var datagrams = connection.Features.Get<IDtlsDatagramFeature>()
            ?? throw new InvalidOperationException("The CoAP handler serves DTLS endpoints only.");
        var session = connection.Features.Get<IDtlsSessionFeature>();
        var peer = CoapPeer.From(session);
        CoapLog.Connected(logger, connection.ConnectionId, connection.RemoteEndPoint, session?.CipherSuiteName, peer.Description);
        var layer = new CoapMessageLayer(router, peer, new CoapDuplicateCache(timeProvider), () => datagrams.MaxRecordSize);

        // Kestrel requests the close on shutdown: ending the handler then sends close_notify to the peer.
        var closeRequested = connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? default;
        var input = connection.Transport.Input;
        try
        {
            while (true)
            {
                // Wait for a record without holding a buffer (an idle device then costs no 16 KiB), consuming nothing:
                // the datagram view takes the record out of the same input.
                var waiting = await input.ReadAsync(closeRequested);
                input.AdvanceTo(waiting.Buffer.Start);
                if (waiting.IsCompleted && waiting.Buffer.IsEmpty)
                {
                    break;
                }

                byte[] buffer = ArrayPool<byte>.Shared.Rent(datagrams.MaxReceiveRecordSize);
                try
                {
                    int length = await datagrams.ReceiveAsync(buffer, closeRequested);
                    var handled = layer.Handle(buffer.AsSpan(0, length));
                    Log(connection.ConnectionId, handled);
                    if (handled.Answer is { } answer)
                    {
                        if (answer.Length > datagrams.MaxRecordSize)
                        {
                            CoapLog.AnswerTooLarge(logger, connection.ConnectionId, answer.Length, datagrams.MaxRecordSize, handled.Detail);
                            continue;
                        }

                        await datagrams.SendAsync(answer, closeRequested);
                    }
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                }
            }
        }
        catch (Exception ex) when (ex is ConnectionAbortedException or OperationCanceledException)
        {
            // Aborted (idle timeout, shutdown) or gone: nobody left to answer.
        }

        CoapLog.Disconnected(logger, connection.ConnectionId, connection.RemoteEndPoint);
    }

    private void Log(string connectionId, CoapHandled handled)
    {
        switch (handled.Outcome)
        {
            case CoapOutcome.Answered:
                CoapLog.Answered(logger, connectionId, handled.Detail);
                break;
            case CoapOutcome.AnsweredFromCache:
                CoapLog.AnsweredFromCache(logger, connectionId, handled.Detail);
                break;
            case CoapOutcome.Reset:
                CoapLog.Reset(logger, connectionId, handled.Detail);
                break;
            default:
                CoapLog.Ignored(logger, connectionId, handled.Detail);
                break;
        }
    }
}
