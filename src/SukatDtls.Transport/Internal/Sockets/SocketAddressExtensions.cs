using System.Net;
using System.Net.Sockets;

namespace SukatDtls.Transport.Internal;

internal static class SocketAddressExtensions
{
    private static readonly IPEndPoint s_ipv4Template = new(IPAddress.Any, 0);
    private static readonly IPEndPoint s_ipv6Template = new(IPAddress.IPv6Any, 0);

    /// <summary>The <see cref="IPEndPoint"/> of a raw socket address (allocates; for peers and log lines, not per datagram).</summary>
    public static IPEndPoint ToIPEndPoint(this SocketAddress address) =>
        (IPEndPoint)(address.Family == AddressFamily.InterNetworkV6 ? s_ipv6Template : s_ipv4Template).Create(address);

    /// <summary>A copy that outlives the receive buffer the address was read into (a table key, a peer's address).</summary>
    public static SocketAddress Clone(this SocketAddress address)
    {
        var copy = new SocketAddress(address.Family, address.Size);
        address.Buffer.Span[..address.Size].CopyTo(copy.Buffer.Span);
        return copy;
    }

    /// <summary>
    /// <paramref name="address"/> as a socket of <paramref name="family"/> names it: itself when it is of that family
    /// already; an IPv4 address as its IPv4-mapped IPv6 form, or an IPv4-mapped IPv6 address as plain IPv4 (allocates:
    /// once per peer socket, or for a stray datagram).
    /// </summary>
    /// <exception cref="ArgumentException">An IPv6 address that is not IPv4-mapped, for an IPv4 socket.</exception>
    public static SocketAddress InFamily(this SocketAddress address, AddressFamily family)
    {
        if (address.Family == family)
        {
            return address;
        }

        var endPoint = address.ToIPEndPoint();
        return new IPEndPoint(endPoint.Address.InFamily(family), endPoint.Port).Serialize();
    }

    /// <summary><paramref name="endPoint"/> as a socket of <paramref name="family"/> names it (see <see cref="InFamily(SocketAddress, AddressFamily)"/>).</summary>
    /// <exception cref="ArgumentException">An IPv6 address that is not IPv4-mapped, for an IPv4 socket.</exception>
    public static IPEndPoint InFamily(this IPEndPoint endPoint, AddressFamily family) =>
        endPoint.AddressFamily == family ? endPoint : new IPEndPoint(endPoint.Address.InFamily(family), endPoint.Port);

    private static IPAddress InFamily(this IPAddress address, AddressFamily family) => family switch
    {
        _ when address.AddressFamily == family => address,
        AddressFamily.InterNetworkV6 => address.MapToIPv6(),
        AddressFamily.InterNetwork when address.IsIPv4MappedToIPv6 => address.MapToIPv4(),
        _ => throw new ArgumentException($"{address} has no {family} form.", nameof(address)),
    };
}
