using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>The stateless cookie exchange: one handshake per verified peer, and the rotating key.</summary>
public sealed class CookieExchangeTests
{
    private static readonly TimeSpan s_rotation = TimeSpan.FromSeconds(60);

    private static async Task<DtlsConnectionListener> BindAsync(TimeProvider? time = null)
    {
        var options = new DtlsTransportOptions { ServerCertificate = TestCertificates.EcdsaServer(), CookieKeyRotationInterval = s_rotation };
        var factory = new DtlsTransportFactory(Options.Create(options), NullLoggerFactory.Instance, time);
        return (DtlsConnectionListener)await factory.BindAsync(new DtlsEndPoint(IPAddress.Loopback, 0));
    }

    private static IPEndPoint EndPointOf(DtlsConnectionListener listener) => ((DtlsEndPoint)listener.EndPoint).IPEndPoint;

    [Fact]
    public async Task Duplicated_ClientHellos_start_one_handshake_on_one_socket()
    {
        await using var listener = await BindAsync();
        using var client = await TestDtlsClient.ConnectAsync(EndPointOf(listener), duplicateSends: true);
        var connection = await listener.AcceptAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.NotNull(connection);

        Assert.Equal(1, listener.Statistics.PeerSocketsCreated);
        Assert.Equal(1, listener.Statistics.HandshakesStarted);
        Assert.Equal(1, listener.PeerCount);
        await connection!.DisposeAsync();
    }

    [Fact]
    public async Task A_cookie_made_with_the_previous_key_is_accepted()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var listener = await BindAsync(time);

        // Datagram 2 is the ClientHello that returns the cookie: rotate the key once just before it leaves.
        using var client = await TestDtlsClient.ConnectAsync(EndPointOf(listener),
            beforeSend: n => { if (n == 2) { time.Advance(s_rotation); } });

        Assert.Equal(1, listener.Statistics.CookiesSent);
        Assert.Equal(1, listener.Statistics.HandshakesStarted);
        (await listener.AcceptAsync())!.Abort();
    }

    [Fact]
    public async Task A_cookie_two_rotations_old_is_refused_and_no_socket_is_made()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var listener = await BindAsync(time);

        await Assert.ThrowsAnyAsync<Exception>(() => TestDtlsClient.ConnectAsync(EndPointOf(listener), handshakeTimeoutMillis: 1_500,
            beforeSend: n => { if (n == 2) { time.Advance(s_rotation * 2); } }));

        // Every ClientHello with the stale cookie got a fresh HelloVerifyRequest instead of a socket.
        Assert.True(listener.Statistics.CookiesSent >= 2);
        Assert.Equal(0, listener.Statistics.PeerSocketsCreated);
        Assert.Equal(0, listener.PeerCount);
    }
}
