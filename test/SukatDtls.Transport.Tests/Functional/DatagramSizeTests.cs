using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using SukatDtls.Transport.Features;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>Datagram size: the configured limit, and ClientHellos that arrive in fragments.</summary>
public sealed class DatagramSizeTests(ITestOutputHelper output)
{
    private readonly ConnectionObserver _observer = new();

    [Fact]
    public async Task A_ClientHello_in_fragments_gets_through_the_cookie_exchange()
    {
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, configureServices: s => s.AddSingleton(_observer));

        // 150-byte datagrams: the client's ClientHello (both of them: without and with the cookie) must be fragmented.
        using var client = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint, sendLimit: 150);
        client.Send("in pieces");
        Assert.Equal("in pieces", client.ReceiveText());
        Assert.True(host.Listener.Statistics.ClientHellosReassembled >= 2, $"reassembled {host.Listener.Statistics.ClientHellosReassembled}");
        Assert.Equal(1, host.Listener.Statistics.PeerSocketsCreated);
    }

    [Fact]
    public async Task Records_and_handshake_fragments_fit_the_configured_datagram_size()
    {
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output,
            o => o.MaxDatagramSize = 576,
            configureServices: s => s.AddSingleton(_observer));
        var largest = 0;
        using var client = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint);
        var observed = await _observer.NextAsync();
        var datagrams = observed.Connection.Features.Get<IDtlsDatagramFeature>()!;
        Assert.InRange(datagrams.MaxRecordSize, 400, 576 - 13 - 24);

        await observed.Connection.Transport.Output.WriteAsync(new byte[5000]);
        int total = 0;
        while (total < 5000)
        {
            var record = client.Receive() ?? throw new TimeoutException("missing record");
            largest = Math.Max(largest, record.Length);
            total += record.Length;
        }

        Assert.Equal(5000, total);
        Assert.True(largest <= datagrams.MaxRecordSize);
        await Assert.ThrowsAsync<ArgumentException>(() => datagrams.SendAsync(new byte[datagrams.MaxRecordSize + 1]).AsTask());
    }

    [Fact]
    public async Task Junk_fragments_from_many_sources_keep_the_reassembly_bounded()
    {
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, configureServices: s => s.AddSingleton(_observer));
        using var sender = new RawUdpSender(host.DtlsEndPoint, host.Listener.Statistics);
        var random = new Random(576);

        // First fragments of 8 KiB ClientHellos that never complete, from 64 source ports, 500 times.
        for (int i = 0; i < 500; i++)
        {
            var body = new byte[100];
            random.NextBytes(body);
            await sender.SendAsync(DtlsRecords.Record(22, 0, (ulong)i,
                DtlsRecords.HandshakeMessage(1, 0, body, declaredLength: 8192, fragmentOffset: random.Next(0, 8000))));
        }

        await sender.WaitUntilReceivedAsync();
        Assert.Equal(0, host.Listener.PeerCount);
        Assert.Equal(0, host.Listener.Statistics.ClientHellosReassembled);

        using var client = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint, sendLimit: 150);
        client.Send("still works");
        Assert.Equal("still works", client.ReceiveText());
    }
}
