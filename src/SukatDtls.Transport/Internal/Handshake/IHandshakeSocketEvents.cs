using System.Net;
using System.Net.Sockets;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// What the handshake thread meets on the peer's socket, while it reads that socket itself
/// (<see cref="HandshakeTransport"/>), that concerns the connection rather than the handshake.
/// </summary>
internal interface IHandshakeSocketEvents
{
    /// <summary>
    /// A datagram from another address: between <c>bind()</c> and <c>connect()</c> the kernel may have put another
    /// peer's datagram on the new socket. It belongs to the listener.
    /// </summary>
    void OnStrayDatagram(ReadOnlySpan<byte> datagram, SocketAddress from);

    /// <summary>The socket reported an ICMP destination unreachable: counted by the connection.</summary>
    void OnUnreachableReported(SocketError error);
}
