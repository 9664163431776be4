using System.Net.Sockets;
using Org.BouncyCastle.Tls;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>
/// The test clients' BouncyCastle <see cref="DatagramTransport"/> on a connected UDP socket (blocking, as BouncyCastle
/// wants), with hooks to misbehave: go silent, duplicate, watch or divert datagrams, a small datagram limit.
/// </summary>
internal sealed class TestUdpTransport(Socket socket, int stopSendingAfter = int.MaxValue, Action<int>? beforeSend = null,
    bool duplicateSends = false, Action<int, byte[]>? sent = null) : DatagramTransport
{
    private int _sent;

    public Action<byte[]>? Divert { get; set; }

    public int GetReceiveLimit() => 65_535;

    public int SendLimit { get; set; } = 1_400;

    public int GetSendLimit() => SendLimit;

    public int Receive(byte[] buf, int off, int len, int waitMillis) => Receive(buf.AsSpan(off, len), waitMillis);

    public int Receive(Span<byte> buffer, int waitMillis)
    {
        while (true)
        {
            if (!socket.Poll(waitMillis == 0 ? -1 : waitMillis * 1000, SelectMode.SelectRead))
            {
                return -1;
            }

            try
            {
                return socket.Receive(buffer);
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
            {
                // ICMP port unreachable from an earlier send: no datagram, try again.
                return -1;
            }
        }
    }

    public void Send(byte[] buf, int off, int len) => Send(buf.AsSpan(off, len));

    public void Send(ReadOnlySpan<byte> buffer)
    {
        if (++_sent > stopSendingAfter)
        {
            return;
        }

        beforeSend?.Invoke(_sent);

        if (Divert is { } divert)
        {
            Divert = null;
            divert(buffer.ToArray());
            return;
        }

        try
        {
            socket.Send(buffer);
            if (duplicateSends)
            {
                socket.Send(buffer);
            }

            sent?.Invoke(_sent, buffer.ToArray());
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
        {
        }
    }

    public void Close() => socket.Dispose();
}
