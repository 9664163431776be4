using System.Net;
using System.Net.Sockets;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>
/// An attacker's peer that passes the cookie exchange — ClientHello, HelloVerifyRequest, ClientHello with the cookie —
/// and then goes silent: the server computes its second flight and waits for an answer that never comes. No spoofing
/// is needed, so the cookie does not stop it; only what the server does with waiting handshakes does.
/// </summary>
internal static class SilentPeer
{
    /// <summary>Runs the cookie exchange from <paramref name="from"/> (port 0: any) and returns the still open socket.</summary>
    /// <exception cref="TimeoutException">No HelloVerifyRequest came.</exception>
    public static async Task<Socket> PassCookieAsync(IPEndPoint server, IPAddress from)
    {
        var socket = new Socket(server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.Bind(new IPEndPoint(from, 0));
            socket.Connect(server);
            var clientHello = DtlsRecords.ClientHello;
            socket.Send(clientHello);
            var buffer = new byte[2048];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            while (true)
            {
                int length = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
                if (DtlsRecords.TryReadHelloVerifyRequest(buffer.AsSpan(0, length), out var cookie))
                {
                    socket.Send(DtlsRecords.WithCookie(clientHello, cookie));
                    return socket;
                }
            }
        }
        catch (OperationCanceledException)
        {
            socket.Dispose();
            throw new TimeoutException($"No HelloVerifyRequest from {server} for a peer on {from}.");
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
