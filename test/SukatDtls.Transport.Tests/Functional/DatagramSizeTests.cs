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
        const int Limit = 576;

        // An RSA certificate: its Certificate message (about 1 KB) cannot go in one 576-byte datagram.
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output,
            o => { o.MaxDatagramSize = Limit; o.ServerCertificate = TestCertificates.RsaServer(); },
            configureServices: s => s.AddSingleton(_observer));

        // The wire, seen by a proxy that drops any server datagram over the limit (a path with that MTU would).
        await using var proxy = new ImpairmentProxy(host.DtlsEndPoint, seed: Limit);
        proxy.Impair(Impairment.None, new Impairment { MaxDatagramSize = Limit });
        using var client = await TestDtlsClient.ConnectAsync(proxy.EndPoint);
        var observed = await _observer.NextAsync();
        var datagrams = observed.Connection.Features.Get<IDtlsDatagramFeature>()!;
        Assert.InRange(datagrams.MaxRecordSize, 400, Limit - 13 - 24);

        await observed.Connection.Transport.Output.WriteAsync(new byte[5000]);
        int total = 0;
        int largest = 0;
        while (total < 5000)
        {
            var record = client.Receive() ?? throw new TimeoutException("missing record");
            largest = Math.Max(largest, record.Length);
            total += record.Length;
        }

        Assert.Equal(5000, total);
        Assert.True(largest <= datagrams.MaxRecordSize);
        await Assert.ThrowsAsync<ArgumentException>(() => datagrams.SendAsync(new byte[datagrams.MaxRecordSize + 1]).AsTask());

        // Every datagram the server sent fit, and the limit was approached, not trivially met.
        output.WriteLine(proxy.ToString());
        Assert.Equal(0, proxy.ServerToClient.DroppedOversize);
        Assert.InRange(proxy.ServerToClient.LargestDatagram, Limit - 100, Limit);

        // The Certificate message went in fragments, each in a datagram within the limit, together the whole message.
        var fragments = proxy.ServerToClient.Datagrams.Where(d => d.Length <= Limit).SelectMany(HandshakeFragments)
            .Where(f => f.Type == 11).DistinctBy(f => f.Offset).ToList();
        output.WriteLine($"Certificate message: {string.Join(", ", fragments.Select(f => $"{f.Offset}+{f.FragmentLength}/{f.Length}"))}");
        Assert.True(fragments.Count >= 2, $"{fragments.Count} fragment(s) of the Certificate message");
        Assert.True(fragments[0].Length > Limit);
        Assert.Equal(fragments[0].Length, fragments.Sum(f => f.FragmentLength));
        Assert.True(proxy.ServerToClient.Datagrams.All(d => d.Length <= Limit));
    }

    /// <summary>The plaintext (epoch 0) handshake fragments in a datagram: message type, length, offset, fragment length.</summary>
    private static IEnumerable<(byte Type, int Length, int Offset, int FragmentLength)> HandshakeFragments(byte[] datagram)
    {
        var found = new List<(byte, int, int, int)>();
        int offset = 0;
        while (offset + 13 <= datagram.Length)
        {
            int length = (datagram[offset + 11] << 8) | datagram[offset + 12];
            bool plaintextHandshake = datagram[offset] == 22 && datagram[offset + 3] == 0 && datagram[offset + 4] == 0;
            int body = offset + 13;
            if (plaintextHandshake && length >= 12 && body + length <= datagram.Length)
            {
                static int U24(byte[] b, int at) => (b[at] << 16) | (b[at + 1] << 8) | b[at + 2];
                found.Add((datagram[body], U24(datagram, body + 1), U24(datagram, body + 6), U24(datagram, body + 9)));
            }

            offset = body + length;
        }

        return found;
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
