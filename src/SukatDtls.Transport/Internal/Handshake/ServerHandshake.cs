using Org.BouncyCastle.Tls;
using SukatDtls.Transport.Internal.BouncyCastle;
using SukatDtls.Transport.Internal.Ecdhe;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The server side of one handshake: BouncyCastle's <see cref="DtlsServerProtocol"/> continues from the verified
/// ClientHello on the peer's own socket, and the new session goes into the session cache.
/// </summary>
/// <remarks>
/// Runs on a handshake thread: BouncyCastle's handshake blocks until it is done, failed or timed out. It computes only
/// with a CPU pass of its <see cref="HandshakeSlot"/>; the transport gives the pass back while the peer is awaited.
/// </remarks>
internal sealed class ServerHandshake(ServerPeerSettings settings, TimeProvider timeProvider)
{
    /// <summary>Runs the handshake to its end.</summary>
    /// <param name="connection">The peer's connection, in handshake.</param>
    /// <param name="request">The verified ClientHello.</param>
    /// <param name="slot">The handshake's place in the scheduler.</param>
    /// <param name="started">When the handshake started (<see cref="TimeProvider.GetTimestamp"/>), for its duration.</param>
    /// <exception cref="Exception">The handshake failed (<see cref="HandshakeFailure"/> names and describes why).</exception>
    /// <param name="clientHello">The verified ClientHello as our own handshake reads it; null when it cannot (BouncyCastle's then runs).</param>
    public CompletedHandshake Run(DtlsConnection connection, DtlsRequest request, ClientHelloMessage? clientHello, HandshakeSlot slot, long started)
    {
        var datagrams = connection.Datagrams;
        datagrams.Slot = slot;
        slot.EnterCpu(continuing: false);
        if (clientHello is not null && EcdheServerPlan.For(settings, clientHello) is { } plan)
        {
            try
            {
                return EcdheServerHandshake.Run(settings, plan, clientHello, datagrams, connection, started, timeProvider);
            }
            finally
            {
                datagrams.Flush();
            }
        }

        var server = new DtlsServerPeer(settings, connection);
        try
        {
            // BouncyCastle's DtlsTransport is not used: the connection's own record layer takes the records over.
            _ = new DtlsServerProtocol().Accept(server, datagrams, request);
        }
        finally
        {
            // The last flight (or the alert of a failure) leaves now, before anything else is done.
            datagrams.Flush();
        }

        var handshake = CompletedHandshake.Create(server.Context, server.Keys!, datagrams, timeProvider.GetElapsedTime(started));
        server.StoreNewSession();
        return handshake;
    }
}
