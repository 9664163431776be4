using System.Net;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
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
    [InlineData(false)]
    [InlineData(true)]
    public async Task Writes_from_the_read_continuation_and_from_other_threads_leave_in_order(bool inlineReads)
    {
        await using var host = await StartAsync<CountingWriterHandler>(o => o.UnsafePreferInlineScheduling = inlineReads);
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
