using System.Net;
using System.Net.Sockets;
using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// The direct <c>send</c> an established connection's records take (<see cref="LinuxSockets.Send"/>), on real loopback
/// sockets: what it sends arrives whole; the errors UDP reports come back as the errno the connection sorts (a datagram
/// too large for the path, an ICMP port unreachable), not as exceptions; a closed socket throws.
/// </summary>
public sealed class LinuxSocketsSendTests : IDisposable
{
    private readonly List<Socket> _sockets = [];

    public void Dispose()
    {
        foreach (var socket in _sockets)
        {
            socket.Dispose();
        }
    }

    [Fact]
    public void A_datagram_arrives_whole_at_the_connected_peer()
    {
        var (sender, receiver) = ConnectedPair();
        byte[] datagram = [.. Enumerable.Range(0, 1000).Select(i => (byte)i)];

        Assert.Equal(0, LinuxSockets.Send(sender.SafeHandle, datagram));

        receiver.ReceiveTimeout = 10_000;
        var buffer = new byte[2000];
        int received = receiver.Receive(buffer);
        Assert.Equal(datagram, buffer.AsSpan(0, received).ToArray());
    }

    [Fact]
    public void A_datagram_larger_than_udp_allows_is_refused_as_too_long()
    {
        var (sender, _) = ConnectedPair();

        int errno = LinuxSockets.Send(sender.SafeHandle, new byte[65_508]);

        Assert.Equal(LinuxSockets.MessageTooLong, errno);
        Assert.Equal(SocketError.MessageSize, LinuxSockets.ToSocketError(errno));
    }

    [Fact]
    public void An_icmp_port_unreachable_comes_back_as_connection_refused_on_a_later_send()
    {
        var (sender, receiver) = ConnectedPair();
        receiver.Dispose();

        // The first send leaves; the kernel answers it with ICMP port unreachable, which a later send reports (once).
        Assert.Equal(0, LinuxSockets.Send(sender.SafeHandle, [1]));
        int errno = 0;
        for (int attempt = 0; attempt < 1000 && errno == 0; attempt++)
        {
            errno = LinuxSockets.Send(sender.SafeHandle, [2]);
        }

        Assert.Equal(LinuxSockets.ConnectionRefused, errno);
        Assert.Equal(SocketError.ConnectionRefused, LinuxSockets.ToSocketError(errno));
    }

    [Fact]
    public void A_closed_socket_throws_instead_of_sending_on_a_reused_descriptor()
    {
        var (sender, _) = ConnectedPair();
        var handle = sender.SafeHandle;
        sender.Dispose();

        Assert.Throws<ObjectDisposedException>(() => LinuxSockets.Send(handle, [1]));
    }

    private (Socket Sender, Socket Receiver) ConnectedPair()
    {
        var receiver = Track(new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        receiver.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var sender = Track(new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        sender.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        sender.Connect(receiver.LocalEndPoint!);
        return (sender, receiver);
    }

    private Socket Track(Socket socket)
    {
        _sockets.Add(socket);
        return socket;
    }
}
