using System.Net;

namespace SukatDtls.Transport.Features;

/// <summary>
/// The peer's moves between addresses during a connection (RFC 9146 Connection IDs): a NAT that rebinds, a device that
/// changes network. The connection and its pipes go on; <c>ConnectionContext.RemoteEndPoint</c> is the new address.
/// </summary>
/// <remarks>
/// A connection moves only for a record that carried its Connection ID, authenticated, and is newer than any before
/// (RFC 9146 §6): a replayed or forged record from another address moves nothing. Connections without a Connection ID
/// never move (their socket is tied to one address and port).
/// </remarks>
public interface IDtlsMigrationFeature
{
    /// <summary>How many times the peer moved during this connection.</summary>
    int Migrations { get; }

    /// <summary>The address the peer had before its last move; null while it has not moved.</summary>
    EndPoint? PreviousRemoteEndPoint { get; }

    /// <summary>
    /// Raised after the peer moved, on a thread-pool thread (never on the connection's receive path). Handlers that keep
    /// state by address (a cache, an observe relation) move it here.
    /// </summary>
    event EventHandler<DtlsPeerMovedEventArgs>? PeerMoved;
}
