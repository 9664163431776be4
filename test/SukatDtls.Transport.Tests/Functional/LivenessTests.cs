using System.Net;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using SukatDtls.Transport.Features;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>
/// Only records that authenticate are a sign of life: a vanished peer's connection times out even while an attacker
/// sends plausible records from its own address and port, and a peer that keeps sending real records stays.
/// </summary>
public sealed class LivenessTests
{
    private static readonly TimeSpan Idle = TimeSpan.FromSeconds(30);

    private static async Task<(DtlsConnectionListener Listener, FakeTimeProvider Time)> BindAsync()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var options = new DtlsTransportOptions { ServerCertificate = TestCertificates.EcdsaServer(), IdleTimeout = Idle };
        var factory = new DtlsTransportFactory(Options.Create(options), NullLoggerFactory.Instance, time);
        return ((DtlsConnectionListener)await factory.BindAsync(new DtlsEndPoint(IPAddress.Loopback, 0)), time);
    }

    /// <summary>An application record with a plausible header (epoch 1, a fresh sequence number) and a random body.</summary>
    private static byte[] Forged(ulong sequence) =>
        DtlsRecords.Record(23, 1, sequence, RandomNumberGenerator.GetBytes(40));

    [Fact]
    public async Task Forged_records_from_a_vanished_peers_address_do_not_keep_its_connection_open()
    {
        var (listener, time) = await BindAsync();
        await using var _ = listener;
        using var client = await TestDtlsClient.ConnectAsync(((DtlsEndPoint)listener.EndPoint).IPEndPoint);
        var connection = (DtlsConnection)(await listener.AcceptAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10)))!;

        // The peer vanishes; every 5 s a forgery arrives from its address and port (through its own socket).
        for (int i = 0; i < 5; i++)
        {
            long dropped = connection.DroppedDatagrams;
            client.Socket.Send(Forged(1_000 + (ulong)i));
            await Wait.UntilAsync(() => connection.DroppedDatagrams == dropped + 1);
            time.Advance(TimeSpan.FromSeconds(5));
        }

        // 25 s of forgeries and silence: still open (the clock is honest in both directions).
        Assert.False(connection.ConnectionClosed.IsCancellationRequested);
        client.Socket.Send(Forged(2_000));
        await Wait.UntilAsync(() => connection.DroppedDatagrams == 6);
        time.Advance(TimeSpan.FromSeconds(5));

        // 30 s since the last authenticated record: the idle timeout ends it, forgeries or not.
        await Wait.UntilAsync(() => connection.ConnectionClosed.IsCancellationRequested);
        Assert.Equal(0, connection.AcceptedDatagrams);
        await connection.DisposeAsync();
    }

    [Fact]
    public async Task A_peer_that_sends_real_records_stays_past_the_idle_timeout()
    {
        var (listener, time) = await BindAsync();
        await using var _ = listener;
        using var client = await TestDtlsClient.ConnectAsync(((DtlsEndPoint)listener.EndPoint).IPEndPoint);
        var connection = (DtlsConnection)(await listener.AcceptAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10)))!;
        var datagrams = connection.Features.Get<IDtlsDatagramFeature>()!;
        var buffer = new byte[datagrams.MaxReceiveRecordSize];

        for (int i = 0; i < 4; i++)
        {
            time.Advance(TimeSpan.FromSeconds(20));
            client.Send([(byte)i]);
            Assert.Equal(1, await datagrams.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        }

        // 80 s in all, never 30 s without a real record: open, and it still answers.
        Assert.False(connection.ConnectionClosed.IsCancellationRequested);
        await datagrams.SendAsync(new byte[] { 9 });
        Assert.Equal(new byte[] { 9 }, client.Receive());
        await connection.DisposeAsync();
    }
}
