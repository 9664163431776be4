using Org.BouncyCastle.Tls;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.Internal;

/// <summary>The client side of one handshake: BouncyCastle's <see cref="DtlsClientProtocol"/> on the connection's socket.</summary>
/// <remarks>
/// Runs on a handshake thread: BouncyCastle's handshake blocks until it is done, failed or timed out. It computes only
/// with a CPU pass of its <see cref="HandshakeSlot"/>; the transport gives the pass back while the server is awaited.
/// </remarks>
internal static class ClientHandshake
{
    /// <summary>Runs the handshake to its end.</summary>
    /// <param name="peer">Our client for this handshake (suites, server name, validation, session to resume).</param>
    /// <param name="connection">The connection, in handshake.</param>
    /// <param name="slot">The handshake's place in the client's scheduler.</param>
    /// <param name="duration">How long it took, read when it ends.</param>
    /// <exception cref="Exception">The handshake failed.</exception>
    public static CompletedHandshake Run(DtlsClientPeer peer, DtlsConnection connection, HandshakeSlot slot, Func<TimeSpan> duration)
    {
        var datagrams = connection.Datagrams;
        datagrams.Slot = slot;
        slot.EnterCpu(continuing: false);
        try
        {
            // BouncyCastle's DtlsTransport is not used: the connection's own record layer takes the records over.
            _ = new DtlsClientProtocol().Connect(peer, datagrams);
        }
        finally
        {
            datagrams.Flush();
        }

        return CompletedHandshake.Create(peer.Context, peer.Keys!, datagrams, duration(), peer.ResumableSession);
    }
}
