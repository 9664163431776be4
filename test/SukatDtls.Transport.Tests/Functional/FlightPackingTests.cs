using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SukatDtls.Transport.Client;
using SukatDtls.Transport.Features;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>
/// Flight packing on the wire (server and client): the records of one handshake flight share a datagram while they
/// fit, so a full handshake takes OpenSSL's datagrams; none exceeds the limit; a lost flight is resent whole.
/// </summary>
public sealed class FlightPackingTests(ITestOutputHelper output)
{
    private readonly ConnectionObserver _observer = new();

    private static DtlsConnectionFactory Client(int maxDatagramSize = 1232) => new(Options.Create(new DtlsClientOptions
    {
        TrustedCertificateAuthorities = TestClientCertificates.DevCa(),
        ServerName = "localhost",
        MaxDatagramSize = maxDatagramSize,
    }), NullLoggerFactory.Instance);

    /// <summary>The records of a datagram: (content type, epoch, handshake type of an epoch-0 handshake record or 0).</summary>
    private static List<(DtlsContentType Type, int Epoch, int HandshakeType, int Length)> Records(byte[] datagram)
    {
        var records = new List<(DtlsContentType, int, int, int)>();
        ReadOnlySpan<byte> rest = datagram;
        while (DtlsRecord.TryRead(rest, out var record))
        {
            int handshakeType = record.ContentType == DtlsContentType.Handshake && record.Epoch == 0 ? record.Fragment[0] : 0;
            records.Add((record.ContentType, record.Epoch, handshakeType, record.Whole.Length));
            rest = rest[record.Whole.Length..];
        }

        Assert.True(rest.IsEmpty, "a datagram with bytes after its records");
        return records;
    }

    private void Show(ImpairmentProxy proxy)
    {
        output.WriteLine(proxy.ToString());
        foreach (var line in proxy.ClientToServer.Trace.Concat(proxy.ServerToClient.Trace).Order(StringComparer.Ordinal))
        {
            output.WriteLine(line);
        }
    }

    [Fact]
    public async Task A_full_handshake_takes_three_datagrams_each_way_and_a_resumed_one_two_from_the_server()
    {
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, configureServices: s => s.AddSingleton(_observer));
        await using var factory = Client();

        DtlsResumableSession session;
        await using (var proxy = new ImpairmentProxy(host.DtlsEndPoint, seed: 1))
        {
            await using var connection = await factory.ConnectAsync(proxy.EndPoint);
            session = connection.Features.Get<IDtlsSessionFeature>()!.ResumableSession!;
            await _observer.NextAsync(TimeSpan.FromSeconds(10));
            Show(proxy);

            // Server: HelloVerifyRequest; ServerHello, Certificate, ServerKeyExchange, ServerHelloDone; CCS, Finished.
            var server = proxy.ServerToClient.Datagrams;
            Assert.Equal(3, server.Count);
            Assert.Equal([(int)DtlsHandshakeType.ServerHello, (int)DtlsHandshakeType.Certificate, 12, 14],
                Records(server[1]).Select(r => r.HandshakeType));
            Assert.Equal([(DtlsContentType.ChangeCipherSpec, 0), (DtlsContentType.Handshake, 1)], Records(server[2]).Select(r => (r.Type, r.Epoch)));

            // Client: ClientHello; ClientHello with the cookie; ClientKeyExchange, CCS, Finished.
            var client = proxy.ClientToServer.Datagrams;
            Assert.Equal(3, client.Count);
            Assert.Equal([(DtlsContentType.Handshake, 0), (DtlsContentType.ChangeCipherSpec, 0), (DtlsContentType.Handshake, 1)],
                Records(client[2]).Select(r => (r.Type, r.Epoch)));
        }

        await using (var proxy = new ImpairmentProxy(host.DtlsEndPoint, seed: 2))
        {
            await using var resumed = await factory.ConnectAsync(proxy.EndPoint, session);
            Show(proxy);
            Assert.True(resumed.Features.Get<IDtlsSessionFeature>()!.IsResumed);

            // Server: HelloVerifyRequest; ServerHello, CCS, Finished.
            var server = proxy.ServerToClient.Datagrams;
            Assert.Equal(2, server.Count);
            Assert.Equal([(DtlsContentType.Handshake, 0), (DtlsContentType.ChangeCipherSpec, 0), (DtlsContentType.Handshake, 1)],
                Records(server[1]).Select(r => (r.Type, r.Epoch)));

            // The client's last flight (CCS, Finished) may still be on its way when ConnectAsync returns.
            await Wait.UntilAsync(() => proxy.ClientToServer.Datagrams.Count >= 3);
            await _observer.NextAsync(TimeSpan.FromSeconds(10)); // the server has it: the connection is up there too
            Assert.Equal(3, proxy.ClientToServer.Datagrams.Count);
        }
    }

    [Fact]
    public async Task Flights_larger_than_a_datagram_are_packed_greedily_and_none_exceeds_the_limit()
    {
        const int Limit = 256;
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, o => o.MaxDatagramSize = Limit,
            configureServices: s => s.AddSingleton(_observer));
        await using var factory = Client(Limit);
        await using var proxy = new ImpairmentProxy(host.DtlsEndPoint, seed: 3);
        await using var connection = await factory.ConnectAsync(proxy.EndPoint);
        Show(proxy);

        foreach (var direction in new[] { proxy.ServerToClient.Datagrams, proxy.ClientToServer.Datagrams })
        {
            Assert.All(direction, datagram => Assert.InRange(datagram.Length, 1, Limit));

            // Greedy: within a flight, a datagram was sent only because the next record did not fit in it too.
            for (int i = 1; i < direction.Count - 1; i++)
            {
                var next = Records(direction[i + 1]);
                bool sameFlight = Records(direction[i]).All(r => r.Epoch == 0 && r.Type == DtlsContentType.Handshake)
                    && next[0].Epoch == 0 && next[0].Type == DtlsContentType.Handshake && next[0].HandshakeType is not (1 or 3);
                if (sameFlight)
                {
                    Assert.True(direction[i].Length + next[0].Length > Limit,
                        $"datagram {i + 1} ({direction[i].Length} bytes) had room for the next record ({next[0].Length} bytes)");
                }
            }
        }

        Assert.True(proxy.ServerToClient.Datagrams.Count > 3, "the server's flight did not need several datagrams at this limit");
    }

    [Fact]
    public async Task A_lost_packed_flight_is_resent_whole()
    {
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, configureServices: s => s.AddSingleton(_observer));
        await using var factory = Client();
        await using var proxy = new ImpairmentProxy(host.DtlsEndPoint, seed: 4);
        proxy.Impair(Impairment.None, new Impairment { DropNumbers = new HashSet<long> { 2 } }); // the server's second flight
        await using var connection = await factory.ConnectAsync(proxy.EndPoint);
        Show(proxy);

        // Every copy of the second flight (the lost one and each resend: the client's retransmitted ClientHello and the
        // server's own timer may both ask for one) is the whole flight in one datagram.
        var flights = proxy.ServerToClient.Datagrams.Where(d => Records(d)[0].HandshakeType == (int)DtlsHandshakeType.ServerHello).ToList();
        Assert.InRange(flights.Count, 2, 3);
        Assert.All(flights, flight => Assert.Equal([2, 11, 12, 14], Records(flight).Select(r => r.HandshakeType)));
    }

    [Fact]
    public async Task A_lost_final_flight_of_the_server_is_resent_when_the_client_repeats_its_own()
    {
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, configureServices: s => s.AddSingleton(_observer));
        await using var factory = Client();
        await using var proxy = new ImpairmentProxy(host.DtlsEndPoint, seed: 5);
        proxy.Impair(Impairment.None, new Impairment { DropNumbers = new HashSet<long> { 3 } }); // CCS + Finished
        await using var connection = await factory.ConnectAsync(proxy.EndPoint).AsTask().WaitAsync(TimeSpan.FromSeconds(15));
        Show(proxy);

        Assert.Equal(1, proxy.ServerToClient.Dropped);
        Assert.Equal(4, proxy.ClientToServer.Datagrams.Count); // its final flight, twice
        Assert.Equal("after a lost final flight", await Lossy.EchoAsync(connection, "after a lost final flight"));
    }

    [Fact]
    public async Task A_lost_final_flight_of_our_client_is_resent_when_the_server_repeats_its_own()
    {
        // An abbreviated handshake ends with the client's flight (CCS, Finished): drop it once.
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, configureServices: s => s.AddSingleton(_observer));
        await using var factory = Client();
        DtlsResumableSession session;
        await using (var first = await factory.ConnectAsync(host.DtlsEndPoint))
        {
            session = first.Features.Get<IDtlsSessionFeature>()!.ResumableSession!;
        }

        await using var proxy = new ImpairmentProxy(host.DtlsEndPoint, seed: 6);
        proxy.Impair(new Impairment { DropNumbers = new HashSet<long> { 3 } }, Impairment.None);
        await using var connection = await factory.ConnectAsync(proxy.EndPoint, session).AsTask().WaitAsync(TimeSpan.FromSeconds(15));
        Assert.True(connection.Features.Get<IDtlsSessionFeature>()!.IsResumed);

        // Our client is done at once; the server waits for the lost Finished and resends its flight after a second;
        // our client's record layer answers with its final flight again, and only then can the server echo.
        Assert.Equal("after our lost final flight", await Lossy.EchoAsync(connection, "after our lost final flight"));
        Show(proxy);
        Assert.Equal(1, proxy.ClientToServer.Dropped);
        Assert.Equal(3, proxy.ServerToClient.Datagrams.Count(d => Records(d).Any(r => r.Type == DtlsContentType.Handshake)));
        var resent = proxy.ClientToServer.Datagrams.Where(d => Records(d).Any(r => r.Type == DtlsContentType.ChangeCipherSpec)).ToList();
        Assert.Equal(2, resent.Count);
        Assert.Equal(resent[0], resent[1]); // the same datagram, resent as it was
    }
}
