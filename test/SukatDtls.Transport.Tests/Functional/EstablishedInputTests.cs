using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SukatDtls.Transport.Features;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>Replayed and hostile datagrams at an established connection's own socket.</summary>
public sealed class EstablishedInputTests(ITestOutputHelper output) : IAsyncLifetime
{
    private DtlsConnectionListener _listener = null!;

    public async Task InitializeAsync()
    {
        var options = new DtlsTransportOptions { ServerCertificate = TestCertificates.EcdsaServer() };
        var factory = new DtlsTransportFactory(Options.Create(options), LoggerFactory.Create(b => b.AddProvider(new XunitLoggerProvider(output)).SetMinimumLevel(LogLevel.Trace)));
        _listener = (DtlsConnectionListener)await factory.BindAsync(new DtlsEndPoint(IPAddress.Loopback, 0));
    }

    public async Task DisposeAsync() => await _listener.DisposeAsync();

    private async Task<(TestDtlsClient Client, DtlsConnection Connection, IDtlsDatagramFeature Datagrams)> ConnectAsync()
    {
        var client = await TestDtlsClient.ConnectAsync(((DtlsEndPoint)_listener.EndPoint).IPEndPoint);
        var connection = (DtlsConnection)(await _listener.AcceptAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10)))!;
        return (client, connection, connection.Features.Get<IDtlsDatagramFeature>()!);
    }

    [Fact]
    public async Task Replayed_records_are_delivered_once_and_cost_little()
    {
        var (client, connection, datagrams) = await ConnectAsync();
        using (client)
        {
            byte[]? captured = null;
            client.DivertNextDatagram = d => captured = d;
            client.Send(new byte[] { 42 });
            Assert.NotNull(captured);
            client.Socket.Send(captured);
            var buffer = new byte[datagrams.MaxReceiveRecordSize];
            Assert.Equal(1, await datagrams.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Equal(42, buffer[0]);

            // Counted from here: the record above shows that every datagram before it was processed (a late
            // retransmission of the client's last handshake flight, under load, is dropped too).
            long droppedBefore = connection.DroppedDatagrams;

            // Paced in bursts: UDP drops what overflows the socket buffer, and the test counts every replay.
            const int Replays = 2_000;
            var stopwatch = Stopwatch.StartNew();
            for (int i = 0; i < Replays; i++)
            {
                client.Socket.Send(captured);
                if (i % 50 == 49)
                {
                    int expected = i + 1;
                    await Wait.UntilAsync(() => connection.DroppedDatagrams - droppedBefore >= expected, 5_000);
                }
            }

            client.Send(new byte[] { 43 });
            Assert.Equal(1, await datagrams.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Equal(43, buffer[0]);
            output.WriteLine($"{Replays} replays handled in {stopwatch.ElapsedMilliseconds} ms; dropped {connection.DroppedDatagrams}");

            // Every replay was dropped by the record layer (its replay window), none delivered.
            Assert.Equal(Replays, connection.DroppedDatagrams - droppedBefore);
            await connection.DisposeAsync();
        }
    }

    [Fact]
    public async Task Junk_at_the_established_socket_is_dropped_and_the_connection_goes_on()
    {
        var (client, connection, datagrams) = await ConnectAsync();
        using (client)
        {
            // Counted from after a first record: every datagram before it was processed by then.
            client.Send(new byte[] { 1 });
            var first = new byte[datagrams.MaxReceiveRecordSize];
            Assert.Equal(1, await datagrams.ReceiveAsync(first).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
            long droppedBefore = connection.DroppedDatagrams;
            long acceptedBefore = connection.AcceptedDatagrams;
            var random = new Random(6347);
            var buffer = new byte[datagrams.MaxReceiveRecordSize];
            int sent = 0;
            foreach (byte type in new byte[] { 20, 21, 22, 23, 24, 25, 99 })
            {
                foreach (ushort epoch in new ushort[] { 0, 1, 2, 0xFFFF })
                {
                    for (int i = 0; i < 20; i++)
                    {
                        client.Socket.Send(DtlsRecords.Record(type, epoch, (ulong)random.NextInt64(0, 1L << 48), RandomBytes(random, random.Next(0, 64))));
                        sent++;
                        await PaceAsync(connection, sent, droppedBefore + acceptedBefore);
                    }
                }
            }

            for (int i = 0; i < 500; i++)
            {
                client.Socket.Send(RandomBytes(random, random.Next(1, 300)));
                sent++;
                await PaceAsync(connection, sent, droppedBefore + acceptedBefore);
            }

            client.Send(new byte[] { 7, 7 });
            Assert.Equal(2, await datagrams.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(30)));
            Assert.Equal(new byte[] { 7, 7 }, buffer[..2]);
            output.WriteLine($"sent {sent} junk datagrams; dropped {connection.DroppedDatagrams}");
            // Seeded input: every one of them is dropped, and only the real record is accepted.
            Assert.Equal(sent, connection.DroppedDatagrams - droppedBefore);
            Assert.Equal(acceptedBefore + 1, connection.AcceptedDatagrams);

            // Nothing of the junk was delivered, and the connection still works both ways.
            Assert.False(connection.Transport.Input.TryRead(out var leftover) && !leftover.Buffer.IsEmpty);
            await datagrams.SendAsync(new byte[] { 8 });
            Assert.Equal(new byte[] { 8 }, client.Receive());
            await connection.DisposeAsync();
        }
    }

    /// <summary>Every 50 datagrams, wait until the server has taken them in (dropped or accepted by the record layer).</summary>
    private static async Task PaceAsync(DtlsConnection connection, int sent, long takenBefore)
    {
        if (sent % 50 == 0)
        {
            await Wait.UntilAsync(() => connection.DroppedDatagrams + connection.AcceptedDatagrams - takenBefore >= sent, 5_000);
        }
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }
}
