using System.Net;
using System.Net.Sockets;
using SukatDtls.Transport.Features;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// Connection IDs (RFC 9146): the peer moving to a new address (a NAT rebinding, a new network), and the limit on what
/// a new address gets before it has shown that it receives (anti-amplification).
/// </summary>
/// <remarks>
/// The listener hands this connection the records that carry its Connection ID from an address no connection has
/// (<see cref="OnForwardedDatagram"/> with their source). The connection moves only for a record that carried the ID,
/// authenticated and is newer than every record before it (RFC 9146 §6, as pion and Scandium do): its socket is
/// <c>connect()</c>ed to the new address — the kernel then hands the new 4-tuple's datagrams to it and the old address's
/// to the listener — the listener's table follows, and <c>RemoteEndPoint</c> changes; the pipes go on.
/// </remarks>
internal sealed partial class DtlsConnection : IDtlsMigrationFeature
{
    // Until a new address has shown it receives (a record from it after we sent to it), it gets at most this many
    // times the bytes it sent us: a forged source address cannot turn the server into an amplifier.
    private const int AmplificationFactor = 3;

    // Guards the unverified path's state; made when the connection first moves, which most never do (40 bytes of every
    // idle session otherwise). Until then _pathUnverified is false and nothing takes it.
    private Lock? _pathLock;
    private int _migrations;
    private EndPoint? _previousRemoteEndPoint;
    private bool _pathUnverified;
    private bool _sentOnUnverifiedPath;
    private long _amplificationCredit;
    private EventHandler<DtlsPeerMovedEventArgs>? _peerMoved;

    private Lock PathLock => Volatile.Read(ref _pathLock) ?? Interlocked.CompareExchange(ref _pathLock, new Lock(), null) ?? _pathLock!;

    // The socket was closed because another connection's peer now has this one's address and port; this connection
    // waits, reachable by its Connection ID, for its own peer to show up at some address.
    private volatile bool _detached;
    private Socket? _detachedSocket;

    /// <summary>
    /// The listening socket's own address and port (a server's connections only): where a new socket for this connection
    /// binds. Not <see cref="DtlsConnection.LocalEndPoint"/>: after <c>connect()</c> a socket of a dual-stack listener
    /// reports the IPv4-mapped address, which an IPv6 socket cannot bind.
    /// </summary>
    public IPEndPoint? ListeningEndPoint { get; init; }

    /// <summary>The Connection ID the listener reserved for this connection's peer (released when it ends).</summary>
    public byte[]? ReservedConnectionId { get; set; }

    int IDtlsMigrationFeature.Migrations => Volatile.Read(ref _migrations);

    EndPoint? IDtlsMigrationFeature.PreviousRemoteEndPoint => Volatile.Read(ref _previousRemoteEndPoint);

    event EventHandler<DtlsPeerMovedEventArgs>? IDtlsMigrationFeature.PeerMoved
    {
        add => _peerMoved += value;
        remove => _peerMoved -= value;
    }

    /// <summary>Moves the connection to <paramref name="from"/> (callers hold <see cref="_receiveProcessing"/>).</summary>
    /// <param name="from">The new address; a transient buffer: copied here.</param>
    /// <param name="datagramLength">What the new address sent: the first credit of the anti-amplification limit.</param>
    private void MoveTo(SocketAddress from, int datagramLength)
    {
        var newAddress = from.Clone();
        var newEndPoint = newAddress.ToIPEndPoint();
        var oldAddress = _peerAddress;
        var oldEndPoint = RemoteEndPoint!;
        Socket? fresh = null;

        // A peer that moved to the other address family of a dual-stack listener gets a new socket of that family
        // (UdpSockets.PeerSocketFamily), and the old one closes: an IPv4 socket cannot reach an IPv6 address, and an
        // IPv6 socket connected anew to an IPv4-mapped one keeps the IPv4 receive address its first connect() gave it
        // (none for IPv6 peers: the kernel then hands the peer's datagrams to the listener).
        var listening = ListeningEndPoint ?? (IPEndPoint)LocalEndPoint!;
        bool replacing = !_detached && UdpSockets.PeerSocketFamily(listening, newEndPoint) != _socket.AddressFamily;
        if ((_detached || replacing) && !_closing)
        {
            // The old socket is gone, and so is the old address: another connection's peer has it (or the old socket
            // cannot reach the new address). The new socket is made before the peer table changes, so that a failure
            // leaves the table as it was (moving back would take the address from the connection that now has it).
            try
            {
                // On the address the peer talked to so far (a wildcard listener's made concrete), where the family allows.
                fresh = UdpSockets.ConnectPeer(listening, newEndPoint, (LocalEndPoint as IPEndPoint)?.Address);
            }
            catch (SocketException ex)
            {
                DtlsLog.ConnectionError(_logger, ConnectionId, oldEndPoint, $"could not move to {newEndPoint}", ex);
                return;
            }
        }

        if (_closing || !_owner.TryMovePeer(this, oldAddress, newAddress))
        {
            fresh?.Dispose();
            DtlsLog.PeerNotMoved(_logger, ConnectionId, oldEndPoint, newEndPoint);
            return;
        }

        if (fresh is not null)
        {
            // A receive loop of its own for the new socket.
            var old = Volatile.Read(ref _socket);
            Volatile.Write(ref _socketPeerAddress, newAddress.InFamily(fresh.AddressFamily));
            Volatile.Write(ref _socket, fresh);
            _detached = false;
            if (replacing)
            {
                // After the swap, so that its receiving's end does not end the input; before the new socket's receive
                // registration, which CloseSocket would otherwise take for the old socket's.
                CloseSocket(old);
            }

            if (_closing)
            {
                fresh.Dispose();
            }

            Volatile.Write(ref _receiveLoop, StartReceiving(fresh));
        }
        else
        {
            try
            {
                // A connected UDP socket can be connected anew: the kernel filters by the new 4-tuple from now on.
                UdpSockets.Connect(_socket, newEndPoint);
                Volatile.Write(ref _socketPeerAddress, newAddress.InFamily(_socket.AddressFamily));
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                if (!_detached)
                {
                    _owner.TryMovePeer(this, newAddress, oldAddress);
                }

                // Else another connection's peer took the old address meanwhile (and closed this socket): the new
                // address stays this connection's in the table, and its next record there gets a socket of its own.
                DtlsLog.ConnectionError(_logger, ConnectionId, oldEndPoint, $"could not move to {newEndPoint}", ex);
                return;
            }
        }

        Volatile.Write(ref _peerAddress, newAddress);
        RemoteEndPoint = newEndPoint;
        Volatile.Write(ref _previousRemoteEndPoint, oldEndPoint);
        Interlocked.Increment(ref _migrations);
        lock (PathLock)
        {
            _pathUnverified = true;
            _sentOnUnverifiedPath = false;
            _amplificationCredit = (long)AmplificationFactor * datagramLength;
        }

        // The new path's MTU may differ from the old one's.
        _sendLimit = DatagramSizes.ForConnectedSocket(_socket, _maxDatagramSize);
        _maxRecordSize = Math.Max(1, _records!.MaxPlaintext(_sendLimit));
        _metrics?.ConnectionMigrated();
        DtlsLog.PeerMoved(_logger, ConnectionId, oldEndPoint, newEndPoint);

        if (_peerMoved is { } handlers)
        {
            // The application's code: never on the receive path.
            var moved = new DtlsPeerMovedEventArgs(oldEndPoint, newEndPoint);
            ThreadPool.UnsafeQueueUserWorkItem(state => handlers(this, state), moved, preferLocal: false);
        }
    }

    /// <summary>
    /// Another connection's peer proved it now has this connection's address and port (a NAT gave them out again): this
    /// connection lets them go — its socket closes, so the kernel hands that address's datagrams to the other one — and
    /// waits, reachable by its Connection ID, for its own peer to show up somewhere. Its idle timeout still runs.
    /// </summary>
    public void DetachAddress()
    {
        if (_closing || _detached)
        {
            return;
        }

        var socket = Volatile.Read(ref _socket);
        _detachedSocket = socket;
        _detached = true;
        CloseSocket(socket);
        DtlsLog.PeerAddressTaken(_logger, ConnectionId, RemoteEndPoint!);
    }

    /// <summary>Whether <paramref name="socket"/> ended because the connection let its address go (not because it ends).</summary>
    private bool IsDetached(Socket socket) => _detached && ReferenceEquals(socket, _detachedSocket) && !_closing;

    /// <summary>A tls12_cid record whose Connection ID is not this connection's (or this connection has none).</summary>
    private static bool IsForeignConnectionIdRecord(ReadOnlySpan<byte> datagram, DtlsRecordLayer records)
    {
        if (datagram.IsEmpty || datagram[0] != (byte)DtlsContentType.Tls12Cid)
        {
            return false;
        }

        var own = records.ReadConnectionId;
        return own.IsEmpty
            || datagram.Length < DtlsRecord.HeaderLength + own.Length
            || !datagram.Slice(11, own.Length).SequenceEqual(own);
    }

    /// <summary>An authenticated datagram came on the connection's own socket, from the current address.</summary>
    private void OnAuthenticatedOnCurrentPath(int datagramLength)
    {
        if (!Volatile.Read(ref _pathUnverified))
        {
            return; // the usual case, every record: no lock
        }

        lock (PathLock)
        {
            if (!_pathUnverified)
            {
                return;
            }

            if (_sentOnUnverifiedPath)
            {
                // It answered after we sent to it: it receives at this address.
                _pathUnverified = false;
                return;
            }

            _amplificationCredit += (long)AmplificationFactor * datagramLength;
        }
    }

    /// <summary>Whether a datagram of <paramref name="length"/> bytes may go to the current address now (false: it is dropped, as a network may).</summary>
    private bool MaySendOnPath(int length)
    {
        if (!Volatile.Read(ref _pathUnverified))
        {
            return true;
        }

        lock (PathLock)
        {
            if (!_pathUnverified)
            {
                return true;
            }

            if (_amplificationCredit < length)
            {
                _metrics?.DatagramDropped("amplification_limit");
                return false;
            }

            _amplificationCredit -= length;
            _sentOnUnverifiedPath = true;
            return true;
        }
    }
}
