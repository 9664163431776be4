using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>
/// Sends an ICMPv4 destination unreachable about a datagram a client sent to a server, as the server's host (port
/// unreachable: nothing listens) or a firewall (communication administratively prohibited) would. On loopback the
/// kernel takes it as real and reports it to the client's connected socket. Needs a raw socket: root, as the path-MTU
/// tests need.
/// </summary>
internal static class ForgedIcmp
{
    /// <summary>Code 3: nothing listens on the port (the socket reports "connection refused").</summary>
    public const byte PortUnreachable = 3;

    /// <summary>Code 13: a firewall rejects (the socket reports "no route to host").</summary>
    public const byte CommunicationProhibited = 13;

    /// <summary>Sends destination unreachable with <paramref name="code"/> to <paramref name="client"/>, about its datagram to <paramref name="server"/>.</summary>
    public static void SendUnreachable(IPEndPoint server, IPEndPoint client, byte code)
    {
        // RFC 792: the ICMP header, then the original datagram's IP header and its first 8 bytes (the UDP header), by
        // which the kernel finds the socket.
        byte[] message = new byte[8 + 20 + 8];
        var icmp = message.AsSpan(0, 8);
        var ip = message.AsSpan(8, 20);
        var udp = message.AsSpan(28, 8);
        icmp[0] = 3;
        icmp[1] = code;

        ip[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(ip[2..], 20 + 8 + 100);
        BinaryPrimitives.WriteUInt16BigEndian(ip[6..], 0x4000);
        ip[8] = 64;
        ip[9] = (byte)ProtocolType.Udp;
        client.Address.GetAddressBytes().CopyTo(ip[12..]);
        server.Address.GetAddressBytes().CopyTo(ip[16..]);
        BinaryPrimitives.WriteUInt16BigEndian(ip[10..], Checksum(ip));

        BinaryPrimitives.WriteUInt16BigEndian(udp, (ushort)client.Port);
        BinaryPrimitives.WriteUInt16BigEndian(udp[2..], (ushort)server.Port);
        BinaryPrimitives.WriteUInt16BigEndian(udp[4..], 8 + 100);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], Checksum(message));

        using var raw = new Socket(AddressFamily.InterNetwork, SocketType.Raw, ProtocolType.Icmp);
        raw.Bind(new IPEndPoint(server.Address, 0));
        raw.SendTo(message, new IPEndPoint(client.Address, 0));
    }

    private static ushort Checksum(ReadOnlySpan<byte> data)
    {
        uint sum = 0;
        for (int i = 0; i + 1 < data.Length; i += 2)
        {
            sum += BinaryPrimitives.ReadUInt16BigEndian(data[i..]);
        }

        while (sum > 0xffff)
        {
            sum = (sum & 0xffff) + (sum >> 16);
        }

        return (ushort)~sum;
    }
}
