using System.Net;
using System.Net.Sockets;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The network a peer's address belongs to, for sharing handshake capacity fairly: an IPv4 /24 or an IPv6 /64 (an
/// IPv4-mapped IPv6 address counts as its IPv4 /24). One host, or one subnet an attacker controls, is one prefix.
/// </summary>
internal static class SourcePrefix
{
    private const ulong Ipv4Tag = 1UL << 63;

    /// <summary>The prefix of <paramref name="endPoint"/>'s address as a number (distinct for IPv4 and IPv6).</summary>
    public static ulong Of(IPEndPoint endPoint)
    {
        var address = endPoint.Address;
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        Span<byte> bytes = stackalloc byte[16];
        if (!address.TryWriteBytes(bytes, out int written))
        {
            return 0;
        }

        if (address.AddressFamily == AddressFamily.InterNetwork && written == 4)
        {
            return Ipv4Tag | ((ulong)bytes[0] << 16) | ((ulong)bytes[1] << 8) | bytes[2];
        }

        // The upper 64 bits of an IPv6 address, with the top bit cleared so that no IPv6 prefix equals an IPv4 one.
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(bytes) & ~Ipv4Tag;
    }

    /// <summary>The prefix for logs: "192.0.2.0/24" or "2001:db8::/64".</summary>
    public static string Describe(IPEndPoint endPoint)
    {
        var address = endPoint.Address.IsIPv4MappedToIPv6 ? endPoint.Address.MapToIPv4() : endPoint.Address;
        var bytes = address.GetAddressBytes();
        if (bytes.Length == 4)
        {
            bytes[3] = 0;
            return $"{new IPAddress(bytes)}/24";
        }

        Array.Clear(bytes, 8, 8);
        return $"{new IPAddress(bytes)}/64";
    }
}
