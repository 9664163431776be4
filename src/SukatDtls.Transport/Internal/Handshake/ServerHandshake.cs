using Org.BouncyCastle.Tls;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The server side of one handshake: BouncyCastle's <see cref="DtlsServerProtocol"/> continues from the verified
/// ClientHello on the peer's own socket, and the new session goes into the session cache.
/// </summary>
/// <remarks>Runs on a handshake thread: BouncyCastle's handshake blocks until it is done, failed or timed out.</remarks>
internal sealed class ServerHandshake(ServerPeerSettings settings, TimeProvider timeProvider)
{
    /// <summary>Runs the handshake to its end.</summary>
    /// <param name="connection">The peer's connection, in handshake.</param>
    /// <param name="request">The verified ClientHello.</param>
    /// <param name="started">When the handshake started (<see cref="TimeProvider.GetTimestamp"/>), for its duration.</param>
    /// <exception cref="Exception">The handshake failed (<see cref="HandshakeFailure"/> names and describes why).</exception>
    public CompletedHandshake Run(DtlsConnection connection, DtlsRequest request, long started)
    {
        var server = new DtlsServerPeer(settings, connection);
        var transport = new DtlsServerProtocol().Accept(server, connection.Datagrams, request);
        server.StoreNewSession();
        return CompletedHandshake.Create(transport, server.Context, timeProvider.GetElapsedTime(started));
    }
}
