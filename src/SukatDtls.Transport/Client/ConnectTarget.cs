using System.Net;
using System.Net.Sockets;

namespace SukatDtls.Transport.Client;

/// <summary>
/// Where a connect goes: the addresses to try, in the order they are tried, and the host name the server certificate
/// must carry (none for an IP endpoint).
/// </summary>
internal sealed class ConnectTarget
{
    private ConnectTarget(IReadOnlyList<IPEndPoint> endPoints, string? hostName)
    {
        EndPoints = endPoints;
        HostName = hostName;
    }

    /// <summary>The addresses with the port, in the order they are tried; never empty.</summary>
    public IReadOnlyList<IPEndPoint> EndPoints { get; }

    /// <summary>The host name of a <see cref="DnsEndPoint"/>; null for an IP endpoint.</summary>
    public string? HostName { get; }

    /// <summary>For logs and messages: the host name, or the address.</summary>
    public string Name => HostName ?? EndPoints[0].Address.ToString();

    /// <summary>
    /// The addresses of <paramref name="endpoint"/>: an IP endpoint as it is; a host name through
    /// <paramref name="resolver"/>, except localhost names (RFC 6761 §6.3), which are the loopback addresses without
    /// asking anyone. A name's addresses are tried in the resolver's order (the system sorts them by RFC 6724), with the
    /// address families interleaved (RFC 8305 §4): a family that does not work costs one attempt, not one per address.
    /// </summary>
    /// <exception cref="SocketException">The name has no address (<see cref="SocketError.HostNotFound"/>), or the resolver failed.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    /// <exception cref="NotSupportedException">Not an IP, DNS or DTLS endpoint.</exception>
    public static async ValueTask<ConnectTarget> ResolveAsync(
        EndPoint endpoint,
        Func<string, AddressFamily, CancellationToken, Task<IPAddress[]>> resolver,
        CancellationToken cancellationToken)
    {
        switch (endpoint)
        {
            case DtlsEndPoint dtls:
                return new ConnectTarget([dtls.IPEndPoint], null);
            case IPEndPoint ip:
                return new ConnectTarget([ip], null);
            case DnsEndPoint dns:
                // WaitAsync: the system resolver may not stop at cancellation; the connect does, and drops its answer.
                var addresses = Loopback(dns.Host, dns.AddressFamily)
                    ?? await resolver(dns.Host, dns.AddressFamily, cancellationToken).WaitAsync(cancellationToken).ConfigureAwait(false);
                if (addresses.Length == 0)
                {
                    throw new SocketException((int)SocketError.HostNotFound, $"The host name '{dns.Host}' has no address.");
                }

                return new ConnectTarget(Interleave(addresses).Select(address => new IPEndPoint(address, dns.Port)).ToArray(), dns.Host);
            default:
                throw new NotSupportedException($"The DTLS client connects to IP, DNS and DTLS endpoints, not {endpoint.GetType().Name} '{endpoint}'.");
        }
    }

    /// <summary>
    /// The loopback addresses for a localhost name ("localhost", "*.localhost"), IPv6 first as RFC 6724 orders them;
    /// null for any other name. RFC 6761 §6.3 asks resolver libraries to treat these names so, and curl and browsers do:
    /// a hosts file that maps localhost to 127.0.0.1 only would otherwise hide a server listening on ::1.
    /// </summary>
    internal static IPAddress[]? Loopback(string host, AddressFamily family)
    {
        string name = host.EndsWith('.') ? host[..^1] : host;
        if (!name.Equals("localhost", StringComparison.OrdinalIgnoreCase) && !name.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var addresses = new List<IPAddress>(2);
        if ((family is AddressFamily.Unspecified or AddressFamily.InterNetworkV6) && Socket.OSSupportsIPv6)
        {
            addresses.Add(IPAddress.IPv6Loopback);
        }

        if (family is AddressFamily.Unspecified or AddressFamily.InterNetwork)
        {
            addresses.Add(IPAddress.Loopback);
        }

        return [.. addresses];
    }

    /// <summary>
    /// The addresses without duplicates, alternating between the first address's family and the other one, each
    /// family in its own order (RFC 8305 §4, with a "First Address Family Count" of 1).
    /// </summary>
    internal static IReadOnlyList<IPAddress> Interleave(IReadOnlyList<IPAddress> addresses)
    {
        var distinct = addresses.Distinct().ToArray();
        if (distinct.Length == 0)
        {
            return distinct;
        }

        var firstFamily = distinct[0].AddressFamily;
        var preferred = new Queue<IPAddress>(distinct.Where(address => address.AddressFamily == firstFamily));
        var other = new Queue<IPAddress>(distinct.Where(address => address.AddressFamily != firstFamily));
        var ordered = new List<IPAddress>(distinct.Length);
        while (preferred.Count > 0 || other.Count > 0)
        {
            if (preferred.TryDequeue(out var address))
            {
                ordered.Add(address);
            }

            if (other.TryDequeue(out address))
            {
                ordered.Add(address);
            }
        }

        return ordered;
    }
}
