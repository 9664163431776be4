using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>
/// 100,000 random, truncated, mutated and replayed datagrams (seeded, so reproducible): half at the listening socket
/// from many source ports, half at an established connection's own socket from its peer's address. Nothing crashes,
/// nothing is logged as an error, no peer is admitted, the established connection keeps working, and replayed
/// records are not delivered twice.
/// </summary>
public sealed class FuzzTests(ITestOutputHelper output)
{
    private const int PerTarget = 50_000;
    private readonly ConnectionObserver _observer = new();

    [Fact]
    public async Task Hundred_thousand_hostile_datagrams_change_nothing()
    {
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(null,
            configureServices: s => s.AddSingleton(_observer), logLevel: LogLevel.Warning);
        var random = new Random(20261126);

        // An established connection, and real records of it to replay and mutate (each delivered exactly once).
        using var client = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint);
        var records = new List<byte[]>();
        for (int i = 0; i < 8; i++)
        {
            client.DivertNextDatagram = d => records.Add(d);
            client.Send($"real {i}");
            client.Socket.Send(records[^1]);
            Assert.Equal($"real {i}", client.ReceiveText());
        }

        var connection = (DtlsConnection)(await _observer.NextAsync()).Connection;
        var clientHello = DtlsRecords.ClientHello;
        var stopwatch = Stopwatch.StartNew();

        // 1. At the listening socket, from 64 source ports.
        using (var sender = new RawUdpSender(host.DtlsEndPoint, host.Listener.Statistics, burstSize: 64))
        {
            for (int i = 0; i < PerTarget; i++)
            {
                await sender.SendAsync(NextDatagram(random, clientHello, records));
            }

            await sender.WaitUntilReceivedAsync();
        }

        // 2. At the established connection's socket, from the peer's own address.
        long taken() => connection.DroppedDatagrams + connection.AcceptedDatagrams;
        // Counted from here: the eight echoes show every datagram before them was processed (a late retransmission
        // of the client's last handshake flight included).
        long acceptedBefore = connection.AcceptedDatagrams;
        long listenerBefore = host.Listener.Statistics.DatagramsReceived;
        long baseline = taken();
        for (int i = 1; i <= PerTarget; i++)
        {
            client.Socket.Send(NextDatagram(random, clientHello, records));
            if (i % 64 == 0)
            {
                int sent = i;
                await Wait.UntilAsync(() => taken() - baseline + (host.Listener.Statistics.DatagramsReceived - listenerBefore) >= sent);
            }
        }

        output.WriteLine($"{2 * PerTarget} datagrams in {stopwatch.Elapsed.TotalSeconds:F1} s; listener dropped {host.Listener.Statistics.DatagramsDropped}, " +
            $"cookies {host.Listener.Statistics.CookiesSent}; connection dropped {connection.DroppedDatagrams}, accepted {connection.AcceptedDatagrams}");

        // Nothing was admitted, nothing went wrong, and no replayed or mutated record was taken: the connection
        // accepted no datagram during the storm (a replay delivered twice would count here, and be echoed).
        Assert.Equal(1, host.Listener.Statistics.PeerSocketsCreated);
        Assert.Equal(1, host.Listener.PeerCount);
        Assert.DoesNotContain(host.Logs.Entries, e => e.Level >= LogLevel.Error);
        Assert.Equal(acceptedBefore, connection.AcceptedDatagrams);

        // The server answered the ClientHellos sent from the client's own address with HelloVerifyRequests, which fill the
        // client socket's receive buffer (its test client was not reading). Read them: HelloVerifyRequests only (epoch 0
        // handshake records), no echo (an application data record), else a replay was delivered.
        // HelloVerifyRequests the listener was still sending may fill the buffer again and crowd out the echo (seen once
        // in a loaded full run): the check is that the connection still works, so the echo may be asked for again.
        var datagram = new byte[65_536];
        int helloVerifyRequests = 0;
        string? echoed = null;
        for (int attempt = 0; attempt < 3 && echoed is null; attempt++)
        {
            while (client.Socket.Available > 0)
            {
                int length = client.Socket.Receive(datagram);
                Assert.True(length >= 13 && datagram[0] == 22 && datagram[3] == 0 && datagram[4] == 0,
                    $"the client got a datagram that is not a HelloVerifyRequest: type {datagram[0]}, {length} bytes");
                helloVerifyRequests++;
            }

            client.Send("after the storm");
            echoed = client.ReceiveText(timeoutMillis: 3_000);
        }

        output.WriteLine($"{helloVerifyRequests} HelloVerifyRequests waited at the client");
        Assert.Equal("after the storm", echoed);
        Assert.False(connection.ConnectionClosed.IsCancellationRequested);
    }

    private static byte[] NextDatagram(Random random, byte[] clientHello, List<byte[]> records)
    {
        byte[] Pick(byte[][] choices) => choices[random.Next(choices.Length)];
        switch (random.Next(8))
        {
            case 0: // random bytes
                return Bytes(random, random.Next(0, 1500));
            case 1: // a real record, replayed
                return (byte[])records[random.Next(records.Count)].Clone();
            case 2: // a real record or ClientHello, truncated
            {
                var source = random.Next(2) == 0 ? clientHello : records[random.Next(records.Count)];
                return source.AsSpan(0, random.Next(0, source.Length)).ToArray();
            }

            case 3: // a real record or ClientHello with a few bytes flipped
            {
                var mutated = (byte[])(random.Next(2) == 0 ? clientHello : records[random.Next(records.Count)]).Clone();
                for (int flips = random.Next(1, 5); flips > 0; flips--)
                {
                    mutated[random.Next(mutated.Length)] ^= (byte)random.Next(1, 256);
                }

                return mutated;
            }

            case 4: // a ClientHello with a made-up cookie
                return DtlsRecords.WithCookie(clientHello, Bytes(random, random.Next(1, 33)));
            case 5: // a well-framed record of any content type and epoch, random body
                return DtlsRecords.Record(Pick([[20], [21], [22], [23], [24], [25], [(byte)random.Next(256)]])[0],
                    (ushort)Pick([[0], [1], [2], [(byte)random.Next(256)]])[0], (ulong)random.NextInt64(0, 1L << 48), Bytes(random, random.Next(0, 200)));
            case 6: // a record whose declared length lies
                return DtlsRecords.Record((byte)random.Next(20, 26), (ushort)random.Next(0, 2), (ulong)random.Next(), Bytes(random, random.Next(0, 64)),
                    declaredLength: random.Next(0, 65536));
            default: // the real ClientHello again
                return (byte[])clientHello.Clone();
        }
    }

    private static byte[] Bytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }
}
