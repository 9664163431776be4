using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SukatDtls.Transport.Features;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>The whole-record view, and how it shares the input with the pipe.</summary>
public sealed class DatagramFeatureTests : IAsyncLifetime
{
    private DtlsConnectionListener _listener = null!;
    private IPEndPoint _endPoint = null!;

    public async Task InitializeAsync()
    {
        var options = new DtlsTransportOptions { ServerCertificate = TestCertificates.EcdsaServer() };
        var factory = new DtlsTransportFactory(Options.Create(options), NullLoggerFactory.Instance);
        _listener = (DtlsConnectionListener)await factory.BindAsync(new DtlsEndPoint(IPAddress.Loopback, 0));
        _endPoint = ((DtlsEndPoint)_listener.EndPoint).IPEndPoint;
    }

    public async Task DisposeAsync() => await _listener.DisposeAsync();

    private async Task<(TestDtlsClient Client, ConnectionContext Connection, IDtlsDatagramFeature Datagrams)> ConnectAsync()
    {
        var client = await TestDtlsClient.ConnectAsync(_endPoint);
        var connection = (await _listener.AcceptAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10)))!;
        return (client, connection, connection.Features.Get<IDtlsDatagramFeature>()!);
    }

    [Fact]
    public async Task Each_receive_returns_exactly_one_record_even_when_several_are_queued()
    {
        var (client, connection, datagrams) = await ConnectAsync();
        using (client)
        {
            client.Send(new byte[] { 1 });
            client.Send(new byte[] { 2, 2 });
            client.Send(new byte[] { 3, 3, 3 });

            var buffer = new byte[datagrams.MaxRecordSize];
            for (int expected = 1; expected <= 3; expected++)
            {
                int length = await datagrams.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
                Assert.Equal(expected, length);
                Assert.All(buffer.AsSpan(0, length).ToArray(), b => Assert.Equal(expected, b));
            }

            await connection.DisposeAsync();
        }
    }

    [Fact]
    public async Task An_established_server_connection_has_let_its_handshake_transport_go_and_still_serves_records()
    {
        // The handshake's transport is ~300 bytes an idle session would otherwise keep; after the hand-over every
        // datagram takes the record layer's path, so nothing may still need it.
        var (client, connection, datagrams) = await ConnectAsync();
        using (client)
        {
            var error = Assert.Throws<InvalidOperationException>(() => ((DtlsConnection)connection).Datagrams);
            Assert.Contains("released", error.Message, StringComparison.Ordinal);

            client.Send(new byte[] { 9 });
            var buffer = new byte[datagrams.MaxRecordSize];
            Assert.Equal(1, await datagrams.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
            await datagrams.SendAsync(new byte[] { 10 });
            Assert.Equal(new byte[] { 10 }, client.Receive());
            await connection.DisposeAsync();
            Assert.Null(client.Receive());
            Assert.True(client.PeerSentCloseNotify);
        }
    }

    [Fact]
    public async Task An_output_first_asked_for_after_records_went_through_the_view_sends_and_then_closes_cleanly()
    {
        // The output pipe and its send loop are made on the first use of Transport.Output (a handler that only uses
        // the datagram view never has them): made late, they must still send what is written, before close_notify.
        var (client, connection, datagrams) = await ConnectAsync();
        using (client)
        {
            client.Send(new byte[] { 1, 2, 3 });
            var buffer = new byte[datagrams.MaxRecordSize];
            Assert.Equal(3, await datagrams.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
            await datagrams.SendAsync(new byte[] { 4 });
            Assert.Equal(new byte[] { 4 }, client.Receive());

            await connection.Transport.Output.WriteAsync(new byte[] { 5, 6 });
            await connection.Transport.Output.WriteAsync(new byte[] { 7 });
            await connection.DisposeAsync();

            var received = new List<byte>();
            while (client.Receive() is { } record)
            {
                received.AddRange(record);
            }

            Assert.Equal(new byte[] { 5, 6, 7 }, received);
            Assert.True(client.PeerSentCloseNotify);

            // Disposed: the output is a completed writer, as it was when it existed from the start.
            await Assert.ThrowsAsync<InvalidOperationException>(async () => await connection.Transport.Output.WriteAsync(new byte[] { 8 }));
        }
    }

    [Fact]
    public async Task Each_send_is_exactly_one_record()
    {
        var (client, connection, datagrams) = await ConnectAsync();
        using (client)
        {
            var big = new byte[datagrams.MaxRecordSize];
            Random.Shared.NextBytes(big);
            await datagrams.SendAsync(big);
            await datagrams.SendAsync(new byte[] { 42 });

            Assert.Equal(big, client.Receive());
            Assert.Equal(new byte[] { 42 }, client.Receive());
            await connection.DisposeAsync();
        }
    }

    [Fact]
    public async Task Oversized_send_and_undersized_receive_buffer_are_clear_errors_that_lose_nothing()
    {
        var (client, connection, datagrams) = await ConnectAsync();
        using (client)
        {
            var tooBig = new byte[datagrams.MaxRecordSize + 1];
            var sendError = await Assert.ThrowsAsync<ArgumentException>(() => datagrams.SendAsync(tooBig).AsTask());
            Assert.Contains(datagrams.MaxRecordSize.ToString(System.Globalization.CultureInfo.InvariantCulture), sendError.Message);

            client.Send(new byte[100]);
            var small = new byte[10];
            await Assert.ThrowsAsync<ArgumentException>(() => datagrams.ReceiveAsync(small).AsTask());

            var buffer = new byte[datagrams.MaxRecordSize];
            Assert.Equal(100, await datagrams.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
            await connection.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_peer_record_larger_than_our_send_limit_arrives_whole()
    {
        var (client, connection, datagrams) = await ConnectAsync();
        using (client)
        {
            var large = new byte[5_000];
            Random.Shared.NextBytes(large);
            client.Send(large);

            Assert.True(datagrams.MaxReceiveRecordSize >= 1 << 14);
            Assert.True(large.Length > datagrams.MaxRecordSize);
            var buffer = new byte[datagrams.MaxReceiveRecordSize];
            int length = await datagrams.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(large, buffer.AsSpan(0, length).ToArray());
            await connection.DisposeAsync();
        }
    }

    [Fact]
    public async Task Pipe_reads_and_record_reads_can_be_mixed_without_losing_record_edges()
    {
        var (client, connection, datagrams) = await ConnectAsync();
        using (client)
        {
            client.Send(new byte[] { 1, 1, 1, 1 });
            client.Send(new byte[] { 2, 2 });
            client.Send(new byte[] { 3, 3, 3 });

            // Read 1 byte of the first record through the pipe, wait for all 9 bytes to be there.
            var input = connection.Transport.Input;
            var result = await input.ReadAtLeastAsync(9).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            input.AdvanceTo(result.Buffer.GetPosition(1));

            var buffer = new byte[datagrams.MaxReceiveRecordSize];
            Assert.Equal(3, await datagrams.ReceiveAsync(buffer)); // the rest of record 1
            Assert.Equal(2, await datagrams.ReceiveAsync(buffer));
            Assert.Equal(new byte[] { 2, 2 }, buffer[..2]);

            // Record 3 entirely through the pipe, then a new record through the datagram view.
            result = await input.ReadAsync();
            Assert.Equal(3, result.Buffer.Length);
            input.AdvanceTo(result.Buffer.End);
            client.Send(new byte[] { 4 });
            Assert.Equal(1, await datagrams.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.Equal(4, buffer[0]);
            await connection.DisposeAsync();
        }
    }

    [Fact]
    public async Task Peer_close_notify_completes_the_datagram_view()
    {
        var (client, connection, datagrams) = await ConnectAsync();
        client.Send(new byte[] { 7 });
        client.Close();

        var buffer = new byte[datagrams.MaxRecordSize];
        Assert.Equal(1, await datagrams.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(0, await datagrams.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.True(datagrams.IsCompleted);
        await connection.DisposeAsync();
    }

    [Fact]
    public async Task A_datagram_of_a_known_peer_that_reaches_the_listener_is_forwarded_to_its_connection()
    {
        // A duplicating network: each of the client's datagrams arrives twice, back to back. The copy of the ClientHello
        // that returns the cookie waits on the listening socket while the listener creates the peer's socket; once that
        // socket is connect()ed the kernel sends the peer's datagrams there, but this copy is already queued at the
        // listener, which now knows the peer and must hand it to its handshake (not start a second one, not drop it).
        // Whether the copy beats connect() is up to the scheduler: a few clients, one after another, until one's does.
        // Every connection stays open until the counts are read: a copy (or a late retransmission) that the listener
        // reaches only after its connection ended would rightly start a new handshake for a peer it no longer knows,
        // and that is not what this test is about.
        const int MaxAttempts = 10;
        var clients = new List<TestDtlsClient>();
        var connections = new List<ConnectionContext>();
        try
        {
            while (clients.Count < MaxAttempts && _listener.Statistics.DatagramsForwarded == 0)
            {
                var client = await TestDtlsClient.ConnectAsync(_endPoint, duplicateSends: true);
                clients.Add(client);
                var connection = (await _listener.AcceptAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10)))!;
                connections.Add(connection);
                var datagrams = connection.Features.Get<IDtlsDatagramFeature>()!;
                client.Send(new byte[] { 9, 9 });
                var buffer = new byte[datagrams.MaxRecordSize];
                Assert.Equal(2, await datagrams.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
            }

            int attempts = clients.Count;
            Assert.True(_listener.Statistics.DatagramsForwarded >= 1, $"no copy reached the listener before connect() in {attempts} attempts");
            Assert.Equal(attempts, _listener.Statistics.PeerSocketsCreated);
            Assert.Equal(attempts, _listener.Statistics.HandshakesCompleted);
            Assert.Equal(0, _listener.Statistics.HandshakesFailed);

            // Each connection still has its own traffic: the forwarded copy did not disturb the handshake it joined.
            for (int i = 0; i < attempts; i++)
            {
                var datagrams = connections[i].Features.Get<IDtlsDatagramFeature>()!;
                clients[i].Send(new byte[] { (byte)i });
                var buffer = new byte[datagrams.MaxRecordSize];
                Assert.Equal(1, await datagrams.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
                Assert.Equal((byte)i, buffer[0]);
            }
        }
        finally
        {
            foreach (var connection in connections)
            {
                await connection.DisposeAsync();
            }

            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }
}
