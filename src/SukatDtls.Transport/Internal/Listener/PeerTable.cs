using System.Collections.Concurrent;
using System.Net;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The listener's verified peers by address: every peer with a socket of its own, in handshake, waiting for accept or
/// established. Datagrams of these peers that reach the listening socket are forwarded to their connection.
/// </summary>
internal sealed class PeerTable
{
    private readonly ConcurrentDictionary<SocketAddress, DtlsConnection> _peers = new();

    // ConcurrentDictionary.Count takes every lock of the table: keep our own count for the per-datagram check.
    private int _count;

    public int Count => Volatile.Read(ref _count);

    /// <summary>The connections, as a moment's snapshot-free enumeration (safe while peers come and go).</summary>
    public IEnumerable<DtlsConnection> Connections => _peers.Select(static entry => entry.Value);

    public bool TryGet(SocketAddress address, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out DtlsConnection connection) =>
        _peers.TryGetValue(address, out connection);

    /// <summary>Adds a peer; <paramref name="address"/> must be the table's own copy (it becomes the key).</summary>
    public bool TryAdd(SocketAddress address, DtlsConnection connection)
    {
        if (!_peers.TryAdd(address, connection))
        {
            return false;
        }

        Interlocked.Increment(ref _count);
        return true;
    }

    /// <summary>Removes the peer at <paramref name="address"/> if it is still <paramref name="connection"/>.</summary>
    public bool TryRemove(SocketAddress address, DtlsConnection connection)
    {
        if (!_peers.TryRemove(new KeyValuePair<SocketAddress, DtlsConnection>(address, connection)))
        {
            return false;
        }

        Interlocked.Decrement(ref _count);
        return true;
    }
}
