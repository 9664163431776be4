using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>README "Ends": a handler's <c>Abort()</c> sends close_notify at once, before the handler returns.</summary>
public sealed class AbortTests(ITestOutputHelper output)
{
    [Fact]
    public async Task An_application_Abort_sends_close_notify_while_the_handler_still_runs()
    {
        var handler = new AbortingHandler.Control();
        await using var host = await DtlsTestHost.StartAsync<AbortingHandler>(output, configureServices: s => s.AddSingleton(handler));
        using var client = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint);
        client.Send("abort, please");
        await handler.Aborted.Task.WaitAsync(TimeSpan.FromSeconds(10));

        // The handler has not returned (it waits for the test): the close_notify comes from Abort() itself.
        Assert.Null(client.Receive(timeoutMillis: 5_000));
        Assert.True(client.PeerSentCloseNotify);
        Assert.False(handler.Returned);
        handler.Release.TrySetResult();
        await Wait.UntilAsync(() => host.Listener.PeerCount == 0);
    }

    /// <summary>Reads one record, aborts the connection, and returns only when the test says so.</summary>
    private sealed class AbortingHandler(AbortingHandler.Control control) : ConnectionHandler
    {
        public sealed class Control
        {
            public TaskCompletionSource Aborted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

            public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

            public volatile bool Returned;
        }

        public override async Task OnConnectedAsync(ConnectionContext connection)
        {
            try
            {
                var result = await connection.Transport.Input.ReadAsync();
                connection.Transport.Input.AdvanceTo(result.Buffer.End);
                connection.Abort();
                control.Aborted.TrySetResult();
                await control.Release.Task.WaitAsync(TimeSpan.FromSeconds(30));
            }
            finally
            {
                control.Returned = true;
            }
        }
    }
}
