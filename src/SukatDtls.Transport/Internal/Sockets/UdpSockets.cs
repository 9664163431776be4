using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The UDP sockets of the transport: the listening socket, the per-peer sockets that share its address and port, and
/// the client's connected sockets.
/// </summary>
/// <remarks>
/// The listening socket and every per-peer socket are bound to the same port (and address, but see
/// <see cref="PeerSocketLocalEndPoint"/>) with SO_REUSEADDR and SO_REUSEPORT; a per-peer socket is then
/// <c>connect()</c>ed, and the kernel prefers the connected (more specific) socket for that peer's datagrams, as TCP's
/// <c>accept()</c> hands out one socket per client.
/// </remarks>
internal static class UdpSockets
{
    /// <summary>The receive buffer asked for the listening socket (the kernel grants at most net.core.rmem_max).</summary>
    public const int ListeningReceiveBufferSize = 4 * 1024 * 1024;

    /// <summary>
    /// The listening socket must share its port with the per-peer sockets (SO_REUSEPORT), and SO_REUSEPORT would let it
    /// share the port silently with another process too. A plain probe bind first makes "port in use" an error.
    /// </summary>
    /// <exception cref="AddressInUseException">Something else has the address and port.</exception>
    public static void EnsurePortIsFree(IPEndPoint endPoint)
    {
        using var probe = new Socket(endPoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        if (endPoint.AddressFamily == AddressFamily.InterNetworkV6 && endPoint.Address.Equals(IPAddress.IPv6Any))
        {
            probe.DualMode = true;
        }

        try
        {
            probe.Bind(endPoint);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            throw new AddressInUseException($"UDP address {endPoint} is already in use.", ex);
        }
    }

    /// <summary>The listening socket, bound to <paramref name="local"/> with the reuse options per-peer sockets need.</summary>
    /// <exception cref="AddressInUseException">Something else has the address and port.</exception>
    public static Socket Listen(IPEndPoint local)
    {
        if (local.Port != 0)
        {
            EnsurePortIsFree(local);
        }

        try
        {
            return Create(local.AddressFamily, socket =>
            {
                AllowReuse(socket, local);
                socket.Bind(local);

                // Every new peer's first flights land here at once after a restart or in a burst; the kernel's default
                // (about 208 KiB) overflowed with 600 clients connecting together, and each drop cost its client a
                // retransmission timeout. The kernel caps the request at net.core.rmem_max.
                socket.ReceiveBufferSize = ListeningReceiveBufferSize;

                if (IsWildcard(local.Address))
                {
                    // A wildcard socket is reached at any of the host's addresses: each datagram says which one
                    // (IP_PKTINFO; IPV6_RECVPKTINFO, which on a dual-stack socket covers IPv4 too), so that a peer's
                    // socket answers from the address its client sent to (PeerSocketLocalEndPoint).
                    socket.SetSocketOption(local.AddressFamily == AddressFamily.InterNetworkV6 ? SocketOptionLevel.IPv6 : SocketOptionLevel.IP,
                        SocketOptionName.PacketInformation, true);
                }
            });
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            throw new AddressInUseException($"UDP address {local} is already in use.", ex);
        }
    }

    private static bool IsWildcard(IPAddress address) => address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any);

    /// <summary>
    /// A per-peer socket: bound to the listening socket's port and address (a wildcard made concrete,
    /// <see cref="PeerSocketLocalEndPoint"/>), connected to the peer.
    /// </summary>
    /// <param name="listening">The listening socket's address and port.</param>
    /// <param name="peer">The peer.</param>
    /// <param name="destination">The address the peer's ClientHello was sent to, when the listening socket told it (a wildcard's, on the receive loops).</param>
    public static Socket ConnectPeer(IPEndPoint listening, IPEndPoint peer, IPAddress? destination = null)
    {
        var local = PeerSocketLocalEndPoint(listening, peer, destination);
        return Create(local.AddressFamily, socket =>
        {
            AllowReuse(socket, local);
            socket.Bind(local);
            Connect(socket, peer);
        });
    }

    /// <summary>
    /// The address family of the socket for <paramref name="peer"/>: the listener's, except that an IPv4 peer of a
    /// dual-stack listener (<c>[::]</c>, the peer as <c>::ffff:a.b.c.d</c>) gets an IPv4 socket.
    /// </summary>
    /// <remarks>
    /// Why: Linux sends from an IPv6 socket to an IPv4-mapped destination by handing the IPv4 code the destination as
    /// an explicit address, even on a connected socket, so every datagram paid a route lookup that a connected IPv4
    /// socket keeps cached — 2.6 % of the echo sample's CPU in a profile of 1,000-byte echoes, and an IPv4 socket saved
    /// 0.3–0.5 µs of 15.5 per echoed record and 6–10 µs of round-trip time (docs/benchmarks.md). The kernel still hands
    /// the peer's datagrams to this socket: a connected socket matches more specifically than the listening one, of
    /// either family. An IPv4 socket does not join the IPv6 listener's SO_REUSEPORT group (groups are per family).
    /// </remarks>
    public static AddressFamily PeerSocketFamily(IPEndPoint listening, IPEndPoint peer) =>
        listening.Address.Equals(IPAddress.IPv6Any) && peer.Address.IsIPv4MappedToIPv6
            ? AddressFamily.InterNetwork
            : listening.AddressFamily;

    /// <summary>
    /// The address and port the socket for <paramref name="peer"/> binds to: the listener's; behind a wildcard listener
    /// (<c>0.0.0.0</c>, <c>[::]</c>), the address the peer sent its ClientHello to (<paramref name="destination"/>), so
    /// that the peer's socket answers from the address the client talks to — on a host with several addresses, a reply
    /// from another is dropped by a client's connected socket, a NAT or a firewall. Without it (.NET's socket engine
    /// does not read it), an IPv4 socket binds to the address the kernel sends from towards the peer
    /// (<see cref="SourceAddressTowards"/>) and an IPv6 one stays on the wildcard.
    /// </summary>
    public static IPEndPoint PeerSocketLocalEndPoint(IPEndPoint listening, IPEndPoint peer, IPAddress? destination = null)
    {
        if (!IsWildcard(listening.Address))
        {
            return listening;
        }

        var family = PeerSocketFamily(listening, peer);

        if (destination is not null)
        {
            // An IPv4 address (mapped, on a dual-stack socket) serves only an IPv4 socket, an IPv6 one only an IPv6 socket.
            var local = destination.IsIPv4MappedToIPv6 ? destination.MapToIPv4() : destination;
            if (local.AddressFamily == family)
            {
                return new IPEndPoint(local, listening.Port);
            }
        }

        return family == AddressFamily.InterNetwork
            ? new IPEndPoint(SourceAddressTowards(peer.InFamily(AddressFamily.InterNetwork)), listening.Port)
            : listening;
    }

    /// <summary>
    /// The local IPv4 address the kernel sends from towards <paramref name="peer"/> (a throwaway socket's
    /// <c>connect()</c>): the address a socket bound to <c>0.0.0.0</c> would take at its own <c>connect()</c>.
    /// </summary>
    /// <remarks>
    /// Why an IPv4 peer socket binds to it rather than to <c>0.0.0.0</c>: Linux moves a wildcard-bound UDP socket to
    /// another hash chain when <c>connect()</c> fixes its local address, and a lookup that is reading the chain at that
    /// moment can follow the moved socket into its new chain and miss the rest of the old one: the listening socket.
    /// The datagram then finds no socket, and the kernel answers it with ICMP port unreachable, failing a new client's
    /// handshake (about 1 in 25,000 handshakes at 8 in flight on loopback; IPv6 sockets join their chain behind the
    /// listening socket, so a lookup meets the listener first). A socket bound to its address never moves.
    /// </remarks>
    private static IPAddress SourceAddressTowards(IPEndPoint peer)
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        probe.Connect(peer);
        return ((IPEndPoint)probe.LocalEndPoint!).Address;
    }

    /// <summary>
    /// <c>connect()</c>s a peer socket to <paramref name="peer"/> (in the listener's form: an IPv4 socket is given the
    /// IPv4 form of an IPv4-mapped address); again for a peer that moved within the socket's address family.
    /// </summary>
    public static void Connect(Socket socket, IPEndPoint peer) => socket.Connect(peer.InFamily(socket.AddressFamily));

    /// <summary>A client's socket: an ephemeral local port, connected to the server.</summary>
    public static Socket ConnectClient(IPEndPoint server) => Create(server.AddressFamily, socket => socket.Connect(server));

    /// <summary>A UDP socket set up by <paramref name="setUp"/>, or none (disposed) when that throws.</summary>
    private static Socket Create(AddressFamily family, Action<Socket> setUp)
    {
        var socket = new Socket(family, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            setUp(socket);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static void AllowReuse(Socket socket, IPEndPoint local)
    {
        if (local.AddressFamily == AddressFamily.InterNetworkV6)
        {
            // [::] serves IPv4 peers too (as ::ffff:a.b.c.d); a specific IPv6 address serves IPv6 only.
            socket.DualMode = local.Address.Equals(IPAddress.IPv6Any);
        }

        // On Unix this sets SO_REUSEADDR and SO_REUSEPORT: per-peer sockets bind the same address and port.
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
    }
}
