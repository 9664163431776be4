using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SukatDtls.Transport.Client;
using SukatDtls.Transport.Features;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>
/// The server's own ECDHE handshake (<c>EcdheServerHandshake</c>) on real sockets: which handshakes it takes and which
/// it leaves to BouncyCastle's, its flight through small datagrams, and its recovery of a lost flight. Interop with
/// OpenSSL and GnuTLS clients is in the Interop tests; hostile clients in <c>OwnServerHandshakeHostileTests</c>.
/// </summary>
public sealed class OwnServerHandshakeTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(10);

    private Task<DtlsTestHost> StartAsync(Action<DtlsTransportOptions>? configure = null) =>
        DtlsTestHost.StartAsync<EchoConnectionHandler>(output, configure, configureServices: s => s.AddSingleton(new ConnectionObserver()));

    private static DtlsConnectionFactory Client(Action<DtlsClientOptions>? configure = null)
    {
        var options = new DtlsClientOptions { DangerousAcceptAnyServerCertificate = true };
        configure?.Invoke(options);
        return new DtlsConnectionFactory(Options.Create(options), NullLoggerFactory.Instance);
    }

    private static async Task EchoAsync(ConnectionContext connection, int size)
    {
        var datagrams = connection.Features.Get<IDtlsDatagramFeature>()!;
        byte[] sent = new byte[size];
        Random.Shared.NextBytes(sent);
        await datagrams.SendAsync(sent);
        var buffer = new byte[datagrams.MaxReceiveRecordSize];
        int length = await datagrams.ReceiveAsync(buffer).AsTask().WaitAsync(Step);
        Assert.Equal(sent, buffer[..length]);
    }

    [Fact]
    public async Task Our_handshake_takes_a_plain_full_handshake_of_our_client()
    {
        await using var host = await StartAsync();
        await using var client = Client();
        await using var connection = await client.ConnectAsync(host.DtlsEndPoint);

        await EchoAsync(connection, 100);
        Assert.Equal(1, host.Listener.Statistics.OwnHandshakesCompleted);
        Assert.Equal("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", connection.Features.Get<IDtlsSessionFeature>()!.CipherSuiteName);
    }

    public static TheoryData<string> BouncyCastleCases => new() { "connection id", "client certificate", "switched off" };

    [Theory]
    [MemberData(nameof(BouncyCastleCases))]
    public async Task What_our_handshake_does_not_answer_stays_BouncyCastle_s(string why)
    {
        await using var host = await StartAsync(o =>
        {
            o.UseOwnServerHandshake = why != "switched off";
            if (why == "client certificate")
            {
                o.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
            }
        });
        await using var client = Client(o => o.RequestConnectionId = why == "connection id");
        await using var connection = await client.ConnectAsync(host.DtlsEndPoint);

        await EchoAsync(connection, 100);
        Assert.Equal(1, host.Listener.Statistics.HandshakesCompleted);
        Assert.Equal(0, host.Listener.Statistics.OwnHandshakesCompleted);
        if (why == "connection id")
        {
            Assert.False(connection.Features.Get<IDtlsSessionFeature>()!.PeerConnectionId.IsEmpty);
        }
    }

    // 256 bytes is the smallest datagram the transport allows: the ECDSA certificate (about 500 bytes) is sent in
    // fragments, and the flight in several datagrams, none larger than the limit.
    [Fact]
    public async Task Our_handshake_fragments_its_flight_to_fit_the_smallest_datagrams()
    {
        const int limit = 256;
        await using var host = await StartAsync(o => o.MaxDatagramSize = limit);
        await using var proxy = new ImpairmentProxy(host.DtlsEndPoint, seed: 256);
        proxy.Impair(new Impairment { MaxDatagramSize = limit });
        await using var client = Client(o => o.MaxDatagramSize = limit);
        await using var connection = await client.ConnectAsync(proxy.EndPoint);

        await EchoAsync(connection, 100);
        output.WriteLine(proxy.ToString());
        Assert.Equal(1, host.Listener.Statistics.OwnHandshakesCompleted);
        Assert.Equal(0, proxy.ServerToClient.DroppedOversize);
        Assert.InRange(proxy.ServerToClient.LargestDatagram, 1, limit);

        // ServerHello, three Certificate fragments at least, ServerKeyExchange, ServerHelloDone; CCS and Finished.
        Assert.InRange(proxy.ServerToClient.Forwarded, 1 + 3 + 1, 100);
    }

    // The server's flight is lost once: the client resends its ClientHello (or the server its flight on its timer),
    // and the same handshake completes.
    [Fact]
    public async Task Our_handshake_recovers_a_lost_flight()
    {
        await using var host = await StartAsync(o => o.HandshakeRetransmissionTimeout = TimeSpan.FromMilliseconds(300));
        await using var proxy = new ImpairmentProxy(host.DtlsEndPoint, seed: 2);

        // The HelloVerifyRequest passes, the flight after it is dropped.
        proxy.Impair(Impairment.None, new Impairment { Drop = 1.0, PassFirst = 1 });
        await using var client = Client(o => o.HandshakeTimeout = TimeSpan.FromSeconds(20));
        var connecting = client.ConnectAsync(proxy.EndPoint).AsTask();
        await Wait.UntilAsync(() => proxy.ServerToClient.Dropped >= 1, timeoutMillis: 10_000);
        proxy.Impair(Impairment.None, Impairment.None);

        await using var connection = await connecting.WaitAsync(TimeSpan.FromSeconds(20));
        await EchoAsync(connection, 100);
        output.WriteLine(proxy.ToString());
        Assert.Equal(1, host.Listener.Statistics.HandshakesStarted);
        Assert.Equal(1, host.Listener.Statistics.OwnHandshakesCompleted);
    }

    // In an abbreviated handshake the client's Finished comes last: when it is lost, only the server's resend (on its
    // timer) makes the client send it again.
    [Fact]
    public async Task Our_abbreviated_handshake_recovers_the_client_s_lost_Finished()
    {
        await using var host = await StartAsync(o => o.HandshakeRetransmissionTimeout = TimeSpan.FromMilliseconds(300));
        await using var client = Client();
        DtlsResumableSession session;
        await using (var first = await client.ConnectAsync(host.DtlsEndPoint))
        {
            session = first.Features.Get<IDtlsSessionFeature>()!.ResumableSession!;
        }

        // Both ClientHellos pass; the client's final flight (ChangeCipherSpec and Finished) is lost once.
        await using var proxy = new ImpairmentProxy(host.DtlsEndPoint, seed: 4);
        proxy.Impair(new Impairment { Drop = 1.0, PassFirst = 2 }, Impairment.None);
        await using var connection = await client.ConnectAsync(proxy.EndPoint, session);
        await Wait.UntilAsync(() => proxy.ClientToServer.Dropped >= 1, timeoutMillis: 10_000);
        proxy.Impair(Impairment.None, Impairment.None);

        await EchoAsync(connection, 100);
        output.WriteLine(proxy.ToString());
        Assert.Equal(2, host.Listener.Statistics.OwnHandshakesCompleted);
        Assert.True(connection.Features.Get<IDtlsSessionFeature>()!.IsResumed);
    }

    // The same for an abbreviated handshake, whose flight ends with our ChangeCipherSpec and Finished: resent whole.
    [Fact]
    public async Task Our_abbreviated_handshake_recovers_a_lost_flight()
    {
        await using var host = await StartAsync(o => o.HandshakeRetransmissionTimeout = TimeSpan.FromMilliseconds(300));
        await using var client = Client(o => o.HandshakeTimeout = TimeSpan.FromSeconds(20));
        DtlsResumableSession session;
        await using (var first = await client.ConnectAsync(host.DtlsEndPoint))
        {
            session = first.Features.Get<IDtlsSessionFeature>()!.ResumableSession!;
        }

        await using var proxy = new ImpairmentProxy(host.DtlsEndPoint, seed: 3);
        proxy.Impair(Impairment.None, new Impairment { Drop = 1.0, PassFirst = 1 });
        var connecting = client.ConnectAsync(proxy.EndPoint, session).AsTask();
        await Wait.UntilAsync(() => proxy.ServerToClient.Dropped >= 1, timeoutMillis: 10_000);
        proxy.Impair(Impairment.None, Impairment.None);

        await using var connection = await connecting.WaitAsync(TimeSpan.FromSeconds(20));
        await EchoAsync(connection, 100);
        output.WriteLine(proxy.ToString());
        Assert.True(connection.Features.Get<IDtlsSessionFeature>()!.IsResumed);
        Assert.Equal(2, host.Listener.Statistics.HandshakesStarted);
        Assert.Equal(2, host.Listener.Statistics.OwnHandshakesCompleted);
    }
}
