using System.Net;
using System.Net.Sockets;
using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// Where per-peer sockets bind (<see cref="UdpSockets"/>), with real sockets on loopback. An IPv4 peer socket binds to
/// the address it will send from, never to <c>0.0.0.0</c>: Linux moves a wildcard-bound UDP socket between hash chains
/// when <c>connect()</c> fixes its address, and a lookup passing by at that moment could miss the listening socket and
/// answer a new client's ClientHello with ICMP port unreachable (measured: about 1 in 25,000 handshakes failed so, none
/// in 120,000 after the change; benchmark notes in docs/benchmarks.md).
/// </summary>
public sealed class UdpSocketsTests
{
    [Theory]
    [InlineData("::", "::ffff:127.0.0.1", "127.0.0.1")]   // an IPv4 peer of a dual-stack listener
    [InlineData("0.0.0.0", "127.0.0.1", "127.0.0.1")]     // an IPv4 listener on every address
    [InlineData("0.0.0.0", "127.0.0.2", "127.0.0.1")]     // the kernel's source address towards the peer (lo's route)
    [InlineData("127.0.0.1", "127.0.0.1", "127.0.0.1")]   // a listener on one address: that address
    [InlineData("::", "::1", "::")]                       // IPv6 peers keep the listener's binding
    public void A_peer_socket_binds_to_a_concrete_ipv4_address_and_the_listeners_port(string listening, string peer, string expected)
    {
        var local = UdpSockets.PeerSocketLocalEndPoint(new IPEndPoint(IPAddress.Parse(listening), 5684), new IPEndPoint(IPAddress.Parse(peer), 40000));

        Assert.Equal(new IPEndPoint(IPAddress.Parse(expected), 5684), local);
    }

    /// <summary>
    /// Behind a wildcard listener, the address the ClientHello came to (read with IP_PKTINFO on the receive loop) wins
    /// over the kernel's choice: on a host with several addresses the peer's socket answers from the one the client
    /// talks to. A listener on one address keeps it.
    /// </summary>
    [Theory]
    [InlineData("0.0.0.0", "127.0.0.1", "127.0.0.2", "127.0.0.2")]
    [InlineData("::", "::ffff:127.0.0.1", "::ffff:127.0.0.2", "127.0.0.2")] // an IPv4 socket for an IPv4 peer, on the unmapped address
    [InlineData("::", "::1", "::1", "::1")]
    [InlineData("127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.1")]
    public void Behind_a_wildcard_listener_a_peer_socket_binds_to_the_address_its_client_sent_to(string listening, string peer, string destination,
        string expected)
    {
        var local = UdpSockets.PeerSocketLocalEndPoint(new IPEndPoint(IPAddress.Parse(listening), 5684), new IPEndPoint(IPAddress.Parse(peer), 40000),
            IPAddress.Parse(destination));

        Assert.Equal(new IPEndPoint(IPAddress.Parse(expected), 5684), local);
    }

    [Fact]
    public void A_peer_socket_of_a_dual_stack_listener_shares_its_port_and_receives_its_peer()
    {
        using var listener = UdpSockets.Listen(new IPEndPoint(IPAddress.IPv6Any, 0));
        var listening = (IPEndPoint)listener.LocalEndPoint!;
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        client.Connect(new IPEndPoint(IPAddress.Loopback, listening.Port));
        var peer = new IPEndPoint(IPAddress.Loopback.MapToIPv6(), ((IPEndPoint)client.LocalEndPoint!).Port);

        using var socket = UdpSockets.ConnectPeer(listening, peer);

        Assert.Equal(AddressFamily.InterNetwork, socket.AddressFamily);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, listening.Port), socket.LocalEndPoint);
        client.Send([42]);
        socket.ReceiveTimeout = 10_000;
        var buffer = new byte[8];
        Assert.Equal(1, socket.Receive(buffer));
        Assert.Equal(42, buffer[0]);
    }
}
