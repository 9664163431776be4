using System.Buffers.Binary;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>
/// The per-record path: the application's writes are encrypted and sent on the writer's own thread when the send loop
/// is idle, in order, whether the application's reads continue on the thread pool or inline on the receive loop
/// (<see cref="DtlsTransportOptions.UnsafePreferInlineScheduling"/>).
/// </summary>
public sealed class ReceivePathTests(ITestOutputHelper output)
{
    private readonly ConnectionObserver _observer = new();

    private Task<DtlsTestHost> StartAsync<THandler>(Action<DtlsTransportOptions>? configure = null)
        where THandler : ConnectionHandler =>
        DtlsTestHost.StartAsync<THandler>(output, configure, [IPAddress.Loopback], services => services.AddSingleton(_observer));

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    [InlineData(true, false)]
    public async Task Writes_from_the_read_continuation_and_from_other_threads_leave_in_order(bool inlineReads, bool ownReceiveLoops)
    {
        await using var host = await StartAsync<CountingWriterHandler>(o =>
        {
            o.UnsafePreferInlineScheduling = inlineReads;
            o.UseOwnReceiveLoops = ownReceiveLoops;
        });
        using var client = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint);
        for (int round = 0; round < 3; round++)
        {
            client.Send(CountingWriterHandler.Records.ToString(System.Globalization.CultureInfo.InvariantCulture));
            for (int i = 0; i < CountingWriterHandler.Records; i++)
            {
                Assert.Equal($"record {i}", client.ReceiveText());
            }
        }

        var observed = await _observer.NextAsync();
        Assert.Null(observed.Error);
    }

    /// <summary>
    /// An application that stops reading fills its input pipe (64 KiB): the connection stops taking datagrams from the
    /// socket (the kernel keeps them) and takes them again once the application reads, so nothing is lost — on the
    /// transport's own receive loops (which pause the socket) and on .NET's socket engine.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task An_application_that_stops_reading_gets_every_record_once_it_reads_again(bool ownReceiveLoops)
    {
        const int Records = 80;
        var options = new DtlsTransportOptions { ServerCertificate = TestCertificates.EcdsaServer(), UseOwnReceiveLoops = ownReceiveLoops };
        var factory = new DtlsTransportFactory(Options.Create(options), NullLoggerFactory.Instance);
        await using var listener = (DtlsConnectionListener)await factory.BindAsync(new DtlsEndPoint(IPAddress.Loopback, 0));
        using var client = await TestDtlsClient.ConnectAsync(((DtlsEndPoint)listener.EndPoint).IPEndPoint);
        await using ConnectionContext connection = (await listener.AcceptAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10)))!;
        var datagrams = connection.Features.Get<Features.IDtlsDatagramFeature>()!;
        var server = (DtlsConnection)connection;

        void SendRecords(int from, int count)
        {
            for (int i = from; i < from + count; i++)
            {
                var record = new byte[1000];
                BinaryPrimitives.WriteInt32BigEndian(record, i);
                client.Send(record);
            }
        }

        // 66 records: the pipe takes every one (65 are 65,000 bytes, under its 64 KiB pause threshold, so it cannot
        // pause before the 66th is in), and is full then. The next 14 wait in the socket. (At least 66: on a loaded
        // machine the client may also resend its last handshake flight, which counts too.)
        SendRecords(0, 66);
        await Wait.UntilAsync(() => server.AcceptedDatagrams >= 66);
        long full = server.AcceptedDatagrams;
        SendRecords(66, Records - 66);
        await Wait.UntilAsync(() => server.Socket.Available > 0);
        Assert.Equal(full, server.AcceptedDatagrams);

        var buffer = new byte[datagrams.MaxReceiveRecordSize];
        for (int i = 0; i < Records; i++)
        {
            int length = await datagrams.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(1000, length);
            Assert.Equal(i, BinaryPrimitives.ReadInt32BigEndian(buffer));
        }

        Assert.True(server.AcceptedDatagrams >= Records);
        Assert.Equal(0, server.DroppedDatagrams);
    }

    /// <summary>
    /// With inline scheduling, the application's read continues on the receive loop within the pass that read the
    /// peer's close_notify; a handler that then ends its connection finds the disposal done at once — the end is done
    /// within that pass (which holds the connection's receive gate), not after it from the thread pool — and the
    /// connection is gone from the listener with its records' ciphers.
    /// </summary>
    [Fact]
    public async Task Disposing_from_the_inline_read_that_saw_close_notify_completes_at_once()
    {
        var connections = new DisposeAfterCloseNotifyHandler.Connections();
        await using var host = await DtlsTestHost.StartAsync<DisposeAfterCloseNotifyHandler>(output, o =>
        {
            o.UnsafePreferInlineScheduling = true;
            o.UseOwnReceiveLoops = true;
        }, [IPAddress.Loopback], services => services.AddSingleton(connections));

        // The handler's read is pending when the test learns it is reading, unless its thread was held up between its
        // signal and its next read (a loaded machine) and the close_notify came first: then the read did not continue
        // on the loop, and another connection tries again (bounded).
        const int Attempts = 5;
        int closed = 0;
        for (int attempt = 1; attempt <= Attempts; attempt++)
        {
            using var client = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint);
            client.Send("reading");
            var observed = await connections.Next.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            await observed.Reading.Task.WaitAsync(TimeSpan.FromSeconds(10));
            client.Close();

            var (thread, disposedAtOnce) = await observed.Disposed.Task.WaitAsync(TimeSpan.FromSeconds(10));
            closed++;
            await Wait.UntilAsync(() => host.Listener.Statistics.ConnectionsClosed == closed);
            if (!thread.StartsWith("DTLS receive", StringComparison.Ordinal))
            {
                output.WriteLine($"attempt {attempt}: the read continued on '{thread}', not on the receive loop; again");
                continue;
            }

            Assert.True(disposedAtOnce, "the disposal waited for a hop to the thread pool");
            return;
        }

        Assert.Fail($"In {Attempts} connections the handler's read never continued on the receive loop.");
    }

    /// <summary>Reads until the input ends (the peer's close_notify), then disposes its connection and reports how.</summary>
    private sealed class DisposeAfterCloseNotifyHandler(DisposeAfterCloseNotifyHandler.Connections connections) : ConnectionHandler
    {
        public override async Task OnConnectedAsync(ConnectionContext connection)
        {
            var observed = new Observed();
            connections.Next.Writer.TryWrite(observed);
            var input = connection.Transport.Input;
            while (true)
            {
                var read = await input.ReadAsync();
                input.AdvanceTo(read.Buffer.End);
                if (read.IsCompleted)
                {
                    break;
                }

                observed.Reading.TrySetResult();
            }

            string thread = Thread.CurrentThread.Name ?? "";
            var disposing = connection.DisposeAsync();
            observed.Disposed.TrySetResult((thread, disposing.IsCompleted));
            await disposing;
        }

        public sealed class Connections
        {
            public System.Threading.Channels.Channel<Observed> Next { get; } = System.Threading.Channels.Channel.CreateUnbounded<Observed>();
        }

        public sealed class Observed
        {
            public TaskCompletionSource Reading { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

            public TaskCompletionSource<(string Thread, bool DisposedAtOnce)> Disposed { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    /// <summary>
    /// On each request, writes numbered records through <c>Transport.Output</c>, one flush each: the first half straight
    /// from the read's continuation (with inline scheduling that is the receive loop, and each flush sends inline too),
    /// the rest after hopping to the thread pool.
    /// </summary>
    private sealed class CountingWriterHandler(ConnectionObserver observer) : ConnectionHandler
    {
        public const int Records = 60;

        public override async Task OnConnectedAsync(ConnectionContext connection)
        {
            var record = observer.OnConnected(connection);
            var input = connection.Transport.Input;
            var writer = connection.Transport.Output;
            var datagrams = connection.Features.Get<Features.IDtlsDatagramFeature>()!;
            try
            {
                while (true)
                {
                    var result = await input.ReadAsync();
                    input.AdvanceTo(result.Buffer.Start);
                    if (result.IsCompleted && result.Buffer.IsEmpty)
                    {
                        break;
                    }

                    var request = new byte[datagrams.MaxReceiveRecordSize];
                    int length = await datagrams.ReceiveAsync(request);
                    int count = int.Parse(Encoding.UTF8.GetString(request, 0, length), System.Globalization.CultureInfo.InvariantCulture);
                    for (int i = 0; i < count / 2; i++)
                    {
                        await writer.WriteAsync(Encoding.UTF8.GetBytes($"record {i}"));
                    }

                    await Task.Yield();
                    for (int i = count / 2; i < count; i++)
                    {
                        await writer.WriteAsync(Encoding.UTF8.GetBytes($"record {i}"));
                    }
                }
            }
            catch (Exception ex)
            {
                record.Error = ex;
            }
            finally
            {
                record.Ended.TrySetResult();
            }
        }
    }
}
