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

        // A dual-stack IPv6 socket talking to an IPv4-mapped peer sends IPv4: set both families' option.
        byte[] discoverDo = BitConverter.GetBytes(PmtuDiscoveryDo);
        if (socket.AddressFamily == AddressFamily.InterNetworkV6)
        {
            TrySet(socket, 41 /* IPPROTO_IPV6 */, Ipv6MtuDiscover, discoverDo);
        }

        TrySet(socket, 0 /* IPPROTO_IP */, IpMtuDiscover, discoverDo);
        return Math.Min(configuredMaximum, PathPayload(socket) ?? configuredMaximum);
    }

    /// <summary>The largest UDP payload the kernel's current path MTU allows, or null when it does not say.</summary>
    public static int? PathPayload(Socket socket)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        bool ipv4Path = socket.AddressFamily == AddressFamily.InterNetwork
            || socket.RemoteEndPoint is IPEndPoint { Address.IsIPv4MappedToIPv6: true };
        int headers = (ipv4Path ? 20 : 40) + 8;
        int? mtu = socket.AddressFamily == AddressFamily.InterNetworkV6
            ? TryGet(socket, 41, Ipv6Mtu) ?? TryGet(socket, 0, IpMtu)
            : TryGet(socket, 0, IpMtu);
        return mtu is { } value ? Math.Max(Minimum, value - headers) : null;
    }

    private static void TrySet(Socket socket, int level, int option, byte[] value)
    {
        try
        {
            socket.SetRawSocketOption(level, option, value);
        }
        catch (SocketException)
        {
            // Not for this socket's family: the other setting applies.
        }
    }

    private static int? TryGet(Socket socket, int level, int option)
    {
        try
        {
            Span<byte> value = stackalloc byte[4];
            return socket.GetRawSocketOption(level, option, value) == 4 ? BitConverter.ToInt32(value) : null;
        }
        catch (SocketException)
        {
            return null;
        }
    }
}
