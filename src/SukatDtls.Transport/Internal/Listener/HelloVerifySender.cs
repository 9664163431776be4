using System.Net;
using System.Net.Sockets;
using Org.BouncyCastle.Tls;

namespace SukatDtls.Transport.Internal;

/// <summary>Sends HelloVerifyRequests from the listening socket to the peer being answered (one caller at a time).</summary>
internal sealed class HelloVerifySender : DatagramSender
{
    public Socket? Socket { get; set; }

    public SocketAddress? Target { get; set; }

    public int GetSendLimit() => 1200;

    public void Send(byte[] buf, int off, int len) => Send(buf.AsSpan(off, len));

    public void Send(ReadOnlySpan<byte> buffer)
    {
        try
        {
            Socket!.SendTo(buffer, SocketFlags.None, Target!);
        }
        catch (SocketException)
        {
            // Best effort, like any datagram: the client retransmits its ClientHello.
        }
    }
}
