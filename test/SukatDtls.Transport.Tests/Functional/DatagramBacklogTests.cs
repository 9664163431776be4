using System.Buffers.Binary;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SukatDtls.Transport.Features;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>
/// An application that does not read: the connection keeps the boundaries of at most 4,096 records for the datagram
/// view, and drops what comes beyond (metered as <c>application_behind</c>), as a full socket buffer would. What was
/// kept is read in order afterwards, and records flow again once the application has caught up.
/// </summary>
public sealed class DatagramBacklogTests : IAsyncDisposable
{
    private const int Kept = 4096;
    private const int Beyond = 64;

    private readonly TestMeterFactory _meters = new();
    private readonly MetricCollector<long> _received;
    private readonly MetricCollector<long> _dropped;

    public DatagramBacklogTests()
    {
        _received = new MetricCollector<long>(_meters, DtlsMetrics.MeterName, "dtls.received_records");
        _dropped = new MetricCollector<long>(_meters, DtlsMetrics.MeterName, "dtls.dropped_datagrams");
    }

    public ValueTask DisposeAsync()
    {
        _received.Dispose();
        _dropped.Dispose();
        _meters.Dispose();
        return ValueTask.CompletedTask;
    }

    private long Received => _received.GetMeasurementSnapshot().Sum(m => m.Value);

    private long DroppedBehind => _dropped.GetMeasurementSnapshot().Where(m => Equals(m.Tags["reason"], "application_behind")).Sum(m => m.Value);

    private static byte[] Numbered(int index)
    {
        var record = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(record, index);
        return record;
    }

    [Fact]
    public async Task An_application_4096_records_behind_loses_new_records_and_reads_the_kept_ones_in_order()
    {
        var options = new DtlsTransportOptions { ServerCertificate = TestCertificates.EcdsaServer() };
        var factory = new DtlsTransportFactory(Options.Create(options), NullLoggerFactory.Instance, null, _meters);
        await using var listener = (DtlsConnectionListener)await factory.BindAsync(new DtlsEndPoint(IPAddress.Loopback, 0));
        using var client = await TestDtlsClient.ConnectAsync(((DtlsEndPoint)listener.EndPoint).IPEndPoint);
        await using ConnectionContext connection = (await listener.AcceptAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10)))!;
        var datagrams = connection.Features.Get<IDtlsDatagramFeature>()!;

        // Nobody reads. In batches, each taken in (kept or dropped) before the next, so that no socket buffer overflows
        // and every loss is the connection's.
        const int Batch = 64;
        for (int sent = 0; sent < Kept + Beyond; )
        {
            for (int i = 0; i < Batch; i++, sent++)
            {
                client.Send(Numbered(sent));
            }

            int expected = sent;
            await Wait.UntilAsync(() => Received + DroppedBehind == expected);
        }

        Assert.Equal(Kept, Received);
        Assert.Equal(Beyond, DroppedBehind);

        // What was kept comes out whole and in order; nothing of what was dropped.
        var buffer = new byte[datagrams.MaxReceiveRecordSize];
        for (int index = 0; index < Kept; index++)
        {
            int length = await datagrams.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(4, length);
            Assert.Equal(index, BinaryPrimitives.ReadInt32BigEndian(buffer));
        }

        // Caught up: the next record is delivered.
        client.Send(Numbered(-1));
        Assert.Equal(4, await datagrams.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(-1, BinaryPrimitives.ReadInt32BigEndian(buffer));
        Assert.Equal(Beyond, DroppedBehind);
    }
}
