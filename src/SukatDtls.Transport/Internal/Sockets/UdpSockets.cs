using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The UDP sockets of the transport: the listening socket, the per-peer sockets that share its address and port, and
/// the client's connected sockets.
/// </summary>
/// <remarks>
/// The listening socket and every per-peer socket are bound to the same address and port with SO_REUSEADDR and
/// SO_REUSEPORT; a per-peer socket is then <c>connect()</c>ed, and the kernel prefers the connected (more specific)
/// socket for that peer's datagrams, as TCP's <c>accept()</c> hands out one socket per client.
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
            });
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            throw new AddressInUseException($"UDP address {local} is already in use.", ex);
        }
    }

    /// <summary>A per-peer socket: bound to the listening socket's own address and port, connected to the peer.</summary>
    public static Socket ConnectPeer(IPEndPoint listening, IPEndPoint peer) =>
        Create(listening.AddressFamily, socket =>
        {
            AllowReuse(socket, listening);
            socket.Bind(listening);
            socket.Connect(peer);
        });

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
