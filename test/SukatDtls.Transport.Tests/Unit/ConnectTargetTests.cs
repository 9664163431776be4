using System.Net;
using System.Net.Sockets;
using SukatDtls.Transport.Client;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// Which addresses a connect tries, and in which order: IPv6 and IPv4 alternate (RFC 8305 §4), each family in the
/// resolver's order, without duplicates; localhost names are loopback without asking the resolver (RFC 6761 §6.3).
/// </summary>
public sealed class ConnectTargetTests
{
    private static IPAddress[] Parse(params string[] addresses) => addresses.Select(IPAddress.Parse).ToArray();

    [Fact]
    public void Families_alternate_from_the_first_address_each_in_the_resolvers_order_without_duplicates()
    {
        var ordered = ConnectTarget.Interleave(Parse("2001:db8::1", "2001:db8::2", "2001:db8::3", "192.0.2.1", "2001:db8::1", "192.0.2.2"));
        Assert.Equal(Parse("2001:db8::1", "192.0.2.1", "2001:db8::2", "192.0.2.2", "2001:db8::3"), ordered);

        // IPv4 first when the resolver put it first.
        Assert.Equal(Parse("192.0.2.1", "2001:db8::1", "192.0.2.2"), ConnectTarget.Interleave(Parse("192.0.2.1", "192.0.2.2", "2001:db8::1")));
    }

    [Theory]
    [InlineData("localhost", AddressFamily.Unspecified, new[] { "::1", "127.0.0.1" })]
    [InlineData("LocalHost.", AddressFamily.Unspecified, new[] { "::1", "127.0.0.1" })]
    [InlineData("api.localhost", AddressFamily.InterNetwork, new[] { "127.0.0.1" })]
    [InlineData("localhost", AddressFamily.InterNetworkV6, new[] { "::1" })]
    public async Task Localhost_names_are_the_loopback_addresses_without_the_resolver(string name, AddressFamily family, string[] expected)
    {
        var target = await ConnectTarget.ResolveAsync(new DnsEndPoint(name, 5684, family),
            (_, _, _) => throw new InvalidOperationException("the resolver was asked"), CancellationToken.None);
        Assert.Equal(expected.Select(address => new IPEndPoint(IPAddress.Parse(address), 5684)), target.EndPoints);
        Assert.Equal(name, target.HostName);
    }

    [Fact]
    public async Task Other_names_go_to_the_resolver_and_a_name_without_addresses_is_HostNotFound()
    {
        var target = await ConnectTarget.ResolveAsync(new DnsEndPoint("notlocalhost", 5684),
            (_, _, _) => Task.FromResult(Parse("192.0.2.7")), CancellationToken.None);
        Assert.Equal([new IPEndPoint(IPAddress.Parse("192.0.2.7"), 5684)], target.EndPoints);

        var ex = await Assert.ThrowsAsync<SocketException>(() => ConnectTarget.ResolveAsync(new DnsEndPoint("nothing.test", 5684),
            (_, _, _) => Task.FromResult(Array.Empty<IPAddress>()), CancellationToken.None).AsTask());
        Assert.Equal(SocketError.HostNotFound, ex.SocketErrorCode);
    }
}
