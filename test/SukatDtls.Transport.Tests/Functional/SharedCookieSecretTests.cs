using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>
/// Two listeners behind a balancer that sent a client's first ClientHello to one and its second to the other: with the
/// same <see cref="DtlsTransportOptions.CookieSecret"/>, the second accepts the first's cookie and answers with its
/// ServerHello; without it, the second sends a HelloVerifyRequest of its own.
/// </summary>
public sealed class SharedCookieSecretTests
{
    private const string Secret = "8f1e2d3c4b5a69788796a5b4c3d2e1f000112233445566778899aabbccddeeff";
    private const byte HandshakeRecord = 22;
    private const byte ServerHello = 2;
    private const byte HelloVerifyRequest = 3;

    private static async Task<DtlsConnectionListener> BindAsync(string? cookieSecret)
    {
        var options = new DtlsTransportOptions { ServerCertificate = TestCertificates.EcdsaServer(), CookieSecret = cookieSecret };
        var factory = new DtlsTransportFactory(Options.Create(options), NullLoggerFactory.Instance);
        return (DtlsConnectionListener)await factory.BindAsync(new DtlsEndPoint(IPAddress.Loopback, 0));
    }

    [Fact]
    public async Task With_the_same_cookie_secret_a_node_continues_the_handshake_another_node_sent_a_cookie_for()
    {
        await using var nodeA = await BindAsync(Secret);
        await using var nodeB = await BindAsync(Secret);

        byte answer = await SecondClientHelloAnswerAsync(nodeA, nodeB);

        Assert.Equal(ServerHello, answer);
        Assert.Equal(0, nodeB.Statistics.CookiesSent);
        Assert.Equal(1, nodeB.Statistics.HandshakesStarted);
    }

    [Fact]
    public async Task Without_a_shared_secret_the_other_node_asks_for_its_own_cookie()
    {
        await using var nodeA = await BindAsync(null);
        await using var nodeB = await BindAsync(null);

        byte answer = await SecondClientHelloAnswerAsync(nodeA, nodeB);

        Assert.Equal(HelloVerifyRequest, answer);
        Assert.Equal(0, nodeB.Statistics.HandshakesStarted);
    }

    /// <summary>
    /// Sends a ClientHello to <paramref name="first"/>, returns its cookie in a second ClientHello to
    /// <paramref name="second"/> from the same address, and returns the handshake type of the second node's answer.
    /// </summary>
    private static async Task<byte> SecondClientHelloAnswerAsync(DtlsConnectionListener first, DtlsConnectionListener second)
    {
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        client.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        byte[] clientHello = DtlsRecords.ClientHello;
        await client.SendToAsync(clientHello, ((DtlsEndPoint)first.EndPoint).IPEndPoint);
        byte[] buffer = new byte[2048];
        int length = await client.ReceiveAsync(buffer.AsMemory()).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(DtlsRecords.TryReadHelloVerifyRequest(buffer.AsSpan(0, length), out byte[] cookie));

        await client.SendToAsync(DtlsRecords.WithCookie(clientHello, cookie), ((DtlsEndPoint)second.EndPoint).IPEndPoint);
        length = await client.ReceiveAsync(buffer.AsMemory()).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(length > DtlsRecords.RecordHeaderLength);
        Assert.Equal(HandshakeRecord, buffer[0]);
        return buffer[DtlsRecords.RecordHeaderLength];
    }
}
