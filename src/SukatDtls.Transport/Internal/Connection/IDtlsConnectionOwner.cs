using System.Net;

namespace SukatDtls.Transport.Internal;

/// <summary>What a <see cref="DtlsConnection"/> tells the side that created it (the server listener or the client factory).</summary>
internal interface IDtlsConnectionOwner
{
    /// <summary>A datagram from another address reached this peer's socket (it raced the socket's <c>connect()</c>).</summary>
    void OnStrayDatagram(ReadOnlySpan<byte> datagram, SocketAddress from);

    /// <summary>
    /// An established peer sent a new ClientHello on its connected socket: it restarted on the same address and port
    /// (RFC 6347 §4.2.8). The owner checks its cookie and, when valid, replaces the old connection.
    /// </summary>
    void OnClientHelloFromEstablishedPeer(DtlsConnection connection, ReadOnlySpan<byte> datagram);

    /// <summary>The connection is gone: forget the peer.</summary>
    void OnConnectionClosed(DtlsConnection connection);

    /// <summary>A new, unique Connection ID for <paramref name="connection"/>'s peer to use (RFC 9146); null when none is given.</summary>
    byte[]? ReserveConnectionId(DtlsConnection connection);

    /// <summary>
    /// The peer of <paramref name="connection"/> moved from <paramref name="from"/> to <paramref name="to"/>: the owner's
    /// tables follow. False when <paramref name="to"/> belongs to another connection (then the connection stays).
    /// </summary>
    bool TryMovePeer(DtlsConnection connection, SocketAddress from, SocketAddress to);
}
