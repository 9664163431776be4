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
}
