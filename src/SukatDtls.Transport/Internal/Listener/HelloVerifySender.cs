using System.Net;
using System.Net.Sockets;
using Org.BouncyCastle.Tls;

namespace SukatDtls.Transport.Internal;

/// <summary>Sends HelloVerifyRequests from the listening socket to the peer being answered (one caller at a time).</summary>
internal sealed class HelloVerifySender : DatagramSender
{
    public Socket? Socket { get; set; }

    public SocketAddress? Target { get; set; }

    // The address the ClientHello came to (a wildcard listener's, read on the receive loop), where the answer leaves
    // from; length 0: the kernel chooses.
    private readonly byte[] _source = new byte[16];
    private int _sourceLength;

    /// <summary>Answers the next ClientHellos from <paramref name="source"/> (empty: from where the kernel chooses).</summary>
    public void AnswerFrom(ReadOnlySpan<byte> source)
    {
        source.CopyTo(_source);
        _sourceLength = source.Length;
    }

    /// <summary>The address answers leave from, or null when the kernel chooses.</summary>
    public IPAddress? Source => _sourceLength == 0 ? null : new IPAddress(_source.AsSpan(0, _sourceLength));

    public int GetSendLimit() => 1200;

    public void Send(byte[] buf, int off, int len) => Send(buf.AsSpan(off, len));

    public void Send(ReadOnlySpan<byte> buffer)
    {
        try
        {
            if (_sourceLength > 0)
            {
                // On a host with several addresses, a client's connected socket, a NAT or a firewall drops an answer
                // from another address than the one it sent to. (Set only on the receive loops: Linux.)
                if (LinuxSockets.SendFrom(Socket!.SafeHandle, buffer, Target!, _source.AsSpan(0, _sourceLength)) == 0)
                {
                    return;
                }

                // Refused (an address the kernel will not send from): from where it chooses, as before.
            }

            Socket!.SendTo(buffer, SocketFlags.None, Target!);
        }
        catch (SocketException)
        {
            // Best effort, like any datagram: the client retransmits its ClientHello.
        }
    }
}
