using System.Net;
using System.Net.Sockets;

namespace SukatDtls.Transport.Internal;

/// <summary>Datagram size limits: the configured maximum, and the path MTU the kernel knows for a connected socket.</summary>
internal static class DatagramSizes
{
    /// <summary>The UDP payload that fits the IPv6 minimum MTU of 1,280 bytes (minus 40 IPv6 + 8 UDP header bytes).</summary>
    public const int Default = 1232;

    public const int Minimum = 256;

    /// <summary>The largest UDP payload over IPv4.</summary>
    public const int Maximum = 65_507;

    // Linux socket options (not in SocketOptionName): IP_MTU_DISCOVER/IP_MTU and their IPv6 twins.
    private const int IpMtuDiscover = 10;
    private const int IpMtu = 14;
    private const int Ipv6MtuDiscover = 23;
    private const int Ipv6Mtu = 24;
    private const int PmtuDiscoveryDo = 2; // always set DF; the kernel reports EMSGSIZE instead of fragmenting

    /// <summary>Null when <paramref name="size"/> is a valid maximum datagram size, else what is wrong.</summary>
    public static string? Check(int size) =>
        size is < Minimum or > Maximum ? $"must be from {Minimum} to {Maximum} bytes; it is {size}." : null;

    /// <summary>
    /// On a connected socket: forbid IP fragmentation (so an oversized datagram fails with EMSGSIZE rather than being
    /// split by the IP layer) and return the largest UDP payload for the path: the configured maximum, or less when
    /// the kernel knows a smaller path MTU. Best effort: elsewhere than Linux the configured maximum stands.
    /// </summary>
    public static int ForConnectedSocket(Socket socket, int configuredMaximum)
    {
        if (!OperatingSystem.IsLinux())
        {
            return configuredMaximum;
        }

        try
        {
            bool ipv6 = socket.AddressFamily == AddressFamily.InterNetworkV6
                && socket.RemoteEndPoint is IPEndPoint { Address.IsIPv4MappedToIPv6: false };
            int level = ipv6 ? 41 /* IPPROTO_IPV6 */ : 0 /* IPPROTO_IP */;
            socket.SetRawSocketOption(level, ipv6 ? Ipv6MtuDiscover : IpMtuDiscover, BitConverter.GetBytes(PmtuDiscoveryDo));
            return Math.Min(configuredMaximum, PathPayload(socket) ?? configuredMaximum);
        }
        catch (SocketException)
        {
            return configuredMaximum;
        }
    }

    /// <summary>The largest UDP payload the kernel's current path MTU allows, or null when it does not say.</summary>
    public static int? PathPayload(Socket socket)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        try
        {
            bool ipv6 = socket.AddressFamily == AddressFamily.InterNetworkV6
                && socket.RemoteEndPoint is IPEndPoint { Address.IsIPv4MappedToIPv6: false };
            Span<byte> value = stackalloc byte[4];
            int length = socket.GetRawSocketOption(ipv6 ? 41 : 0, ipv6 ? Ipv6Mtu : IpMtu, value);
            if (length != 4)
            {
                return null;
            }

            int mtu = BitConverter.ToInt32(value);
            int payload = mtu - (ipv6 ? 40 : 20) - 8;
            return payload >= Minimum ? payload : Minimum;
        }
        catch (SocketException)
        {
            return null;
        }
    }
}
