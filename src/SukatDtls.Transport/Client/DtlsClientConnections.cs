using System.Collections.Concurrent;
using System.Net;
using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Client;

/// <summary>The client's live connections (for the idle timer); a client socket is connected, so nothing strays.</summary>
internal sealed class DtlsClientConnections : IDtlsConnectionOwner
{
    private readonly ConcurrentDictionary<DtlsConnection, byte> _live = new();

    public void Add(DtlsConnection connection) => _live.TryAdd(connection, 0);

    public ICollection<DtlsConnection> Snapshot() => _live.Keys;

    public void OnStrayDatagram(ReadOnlySpan<byte> datagram, SocketAddress from)
    {
    }

    public void OnClientHelloFromEstablishedPeer(DtlsConnection connection, ReadOnlySpan<byte> datagram)
    {
        // A server does not send ClientHellos: junk on a client connection.
    }

    public void OnConnectionClosed(DtlsConnection connection) => _live.TryRemove(connection, out _);

    // The client's own ID is the peer's business (DtlsClientPeer.GetNewConnectionID); a server never moves.
    public byte[]? ReserveConnectionId(DtlsConnection connection) => null;

    public bool TryMovePeer(DtlsConnection connection, SocketAddress from, SocketAddress to) => false;
}
