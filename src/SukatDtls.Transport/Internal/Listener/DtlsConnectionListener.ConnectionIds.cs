using System.Net;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The listener's side of Connection IDs (RFC 9146): routing a record by its ID when it comes from an address no
/// connection has, handing out IDs, and moving a connection to the address its peer proved it now sends from.
/// </summary>
internal sealed partial class DtlsConnectionListener
{
    /// <summary>Hands a tls12_cid record to the connection that owns its Connection ID; unknown IDs are dropped (no allocation).</summary>
    internal void RouteByConnectionId(ReadOnlySpan<byte> datagram, SocketAddress from)
    {
        if (DtlsRecord.TryRead(datagram, out var record, _connectionIds!.Length)
            && _connectionIds.TryGet(record.ConnectionId, out var connection))
        {
            Statistics.OnDatagramRoutedByConnectionId();
            connection.OnForwardedDatagram(datagram, from);
            return;
        }

        Statistics.OnDatagramDropped("unknown_connection_id");
    }

    byte[]? IDtlsConnectionOwner.ReserveConnectionId(DtlsConnection connection)
    {
        if (_connectionIds is null)
        {
            return null;
        }

        var id = _connectionIds.Reserve(connection);
        connection.ReservedConnectionId = id;
        return id;
    }

    bool IDtlsConnectionOwner.TryMovePeer(DtlsConnection connection, SocketAddress from, SocketAddress to)
    {
        // Another connection has that address and port: its peer left it (the NAT gave it to this one's peer, who proved
        // it with an authenticated record). That connection lets it go and waits for its own peer elsewhere.
        if (_peers.TryGet(to, out var holder) && !ReferenceEquals(holder, connection))
        {
            holder.DetachAddress();
            _peers.TryRemove(to, holder);
        }

        if (!_peers.TryAdd(to, connection) && !(_peers.TryGet(to, out var already) && ReferenceEquals(already, connection)))
        {
            return false;
        }

        _peers.TryRemove(from, connection);
        return true;
    }
}
