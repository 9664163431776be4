using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>
/// Sends a UDP datagram over IPv4 loopback with any source port, through a raw socket (the kernel adds the IP header):
/// a datagram "from" a port where nothing listens, so that the answer meets a closed port. Needs root, as
/// <see cref="ForgedIcmp"/>.
/// </summary>
internal static class ForgedUdp
{
    public static void Send(int sourcePort, IPEndPoint destination, ReadOnlySpan<byte> payload)
    {
        if (!IPAddress.IsLoopback(destination.Address) || destination.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new ArgumentException($"Forged datagrams go to IPv4 loopback only, not to {destination}.", nameof(destination));
        }

        byte[] datagram = new byte[8 + payload.Length];
        BinaryPrimitives.WriteUInt16BigEndian(datagram, (ushort)sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(datagram.AsSpan(2), (ushort)destination.Port);
        BinaryPrimitives.WriteUInt16BigEndian(datagram.AsSpan(4), (ushort)datagram.Length);
        // Checksum 0: none, which IPv4 allows (RFC 768).
        payload.CopyTo(datagram.AsSpan(8));

        using var raw = new Socket(AddressFamily.InterNetwork, SocketType.Raw, ProtocolType.Udp);
        raw.Bind(new IPEndPoint(destination.Address, 0));
        raw.SendTo(datagram, new IPEndPoint(destination.Address, 0));
    }

    /// <summary>A loopback UDP port where nothing listens now (bound, then closed: the kernel answers it with port unreachable).</summary>
    public static int ClosedPort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
