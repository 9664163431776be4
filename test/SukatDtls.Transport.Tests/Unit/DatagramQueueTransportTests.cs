using System.Net.Sockets;
using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// The established connection's receive passes: the receive limit BouncyCastle sizes its per-call record buffer by is
/// the queued datagram's own length, and no longer datagram is handed out in that pass (it would be truncated).
/// </summary>
public sealed class DatagramQueueTransportTests
{
    private const int FullLimit = DtlsConnection.MaxRecordDatagramSize;

    [Fact]
    public void A_receive_pass_reports_the_first_datagram_length_and_hands_out_none_longer()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        var transport = new DatagramQueueTransport(socket, FullLimit, sendLimit: 1200, capacity: 8);
        transport.SwitchToNonBlocking();
        Assert.True(transport.Enqueue(Filled(100, 1)));
        Assert.True(transport.Enqueue(Filled(1200, 2)));
        Assert.True(transport.Enqueue(Filled(50, 3)));
        var buffer = new byte[FullLimit];

        Assert.Equal(FullLimit, transport.GetReceiveLimit());
        Assert.True(transport.BeginReceivePass());
        Assert.Equal(100, transport.GetReceiveLimit());
        Assert.Equal(100, transport.Receive(buffer, 0, 100, 1));
        Assert.Equal(1, buffer[99]);

        // The 1,200-byte datagram would not fit this pass's buffer: it waits.
        Assert.Equal(-1, transport.Receive(buffer, 0, 100, 1));
        transport.EndReceivePass();
        Assert.Equal(FullLimit, transport.GetReceiveLimit());

        Assert.True(transport.BeginReceivePass());
        Assert.Equal(1200, transport.GetReceiveLimit());
        Assert.Equal(1200, transport.Receive(buffer, 0, 1200, 1));
        Assert.Equal(2, buffer[1199]);

        // A shorter one fits the same pass.
        Assert.Equal(50, transport.Receive(buffer, 0, 1200, 1));
        Assert.Equal(3, buffer[49]);
        Assert.Equal(-1, transport.Receive(buffer, 0, 1200, 1));
        transport.EndReceivePass();

        Assert.False(transport.BeginReceivePass());
        Assert.Equal(FullLimit, transport.GetReceiveLimit());
    }

    [Fact]
    public void During_the_handshake_the_limit_is_the_full_one()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        var transport = new DatagramQueueTransport(socket, FullLimit, sendLimit: 1200, capacity: 8);
        Assert.True(transport.Enqueue(Filled(300, 7)));
        var buffer = new byte[FullLimit];
        Assert.Equal(FullLimit, transport.GetReceiveLimit());
        Assert.Equal(300, transport.Receive(buffer, 0, buffer.Length, 100));
        Assert.Equal(-1, transport.Receive(buffer, 0, buffer.Length, 1));
    }

    private static byte[] Filled(int length, byte value) => Enumerable.Repeat(value, length).ToArray();
}
