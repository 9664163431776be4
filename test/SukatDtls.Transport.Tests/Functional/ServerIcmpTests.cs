using Microsoft.Extensions.DependencyInjection;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>
/// ICMP destination unreachable reaching a server's connection: unauthenticated, and forgeable by anyone who knows the
/// client's address and port, so it is counted and never ends anything (the idle timeout ends a peer that is really
/// gone). The reports are forged through a raw socket on loopback, which the kernel delivers as real ones.
/// </summary>
public sealed class ServerIcmpTests(ITestOutputHelper output)
{
    private readonly ConnectionObserver _observer = new();

    [Theory]
    [InlineData(ForgedIcmp.PortUnreachable)]
    [InlineData(ForgedIcmp.CommunicationProhibited)]
    public async Task Destination_unreachable_does_not_end_an_established_connection(byte code)
    {
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, configureServices: s => s.AddSingleton(_observer));
        using var client = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint);
        client.Send("before");
        Assert.Equal("before", client.ReceiveText());
        var connection = (DtlsConnection)(await _observer.NextAsync()).Connection;

        // As the client's host (or a firewall on the way) would answer the server's per-peer socket.
        const int Reports = 3;
        for (int i = 0; i < Reports; i++)
        {
            ForgedIcmp.SendUnreachable(server: client.LocalEndPoint, client: host.DtlsEndPoint, code);
            int expected = i + 1;
            await Wait.UntilAsync(() => connection.UnreachableErrors >= expected);
        }

        // Still open, still echoing, nothing sent to the client on the way out.
        client.Send("after");
        Assert.Equal("after", client.ReceiveText());
        Assert.False(connection.ConnectionClosed.IsCancellationRequested);
        Assert.False(client.PeerSentCloseNotify);
        Assert.Equal(Reports, connection.UnreachableErrors);
    }

    [Fact]
    public async Task The_listening_socket_goes_on_after_port_unreachable_for_its_HelloVerifyRequests()
    {
        // Linux reports no ICMP error to an unconnected socket unless IP_RECVERR is set on it; other systems do by
        // default (Windows: WSAECONNRESET on the next receive). The test sets it on the listening socket, so the port
        // unreachable that answers a HelloVerifyRequest sent to a closed port fails the listener's next receive, as it
        // would there; the listener must take that as one lost datagram, not as the end of its socket.
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, configureServices: s => s.AddSingleton(_observer));
        const int IpProtocolIp = 0, IpRecvErr = 11;
        host.Listener.ListenSocket!.SetRawSocketOption(IpProtocolIp, IpRecvErr, BitConverter.GetBytes(1));

        const int ClosedPorts = 3;
        for (int i = 1; i <= ClosedPorts; i++)
        {
            ForgedUdp.Send(ForgedUdp.ClosedPort(), host.DtlsEndPoint, DtlsRecords.ClientHello);
            int sent = i;
            await Wait.UntilAsync(() => host.Listener.Statistics.CookiesSent >= sent);
        }

        using var client = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint);
        client.Send("after");
        Assert.Equal("after", client.ReceiveText());
    }
}
