using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using System.Threading.Channels;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>Echoes through the pipes and records what each connection looked like, for assertions.</summary>
internal sealed class EchoConnectionHandler(ConnectionObserver observer) : ConnectionHandler
{
    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        var record = observer.OnConnected(connection);

        // Kestrel asks connections to close on shutdown; ending the handler sends close_notify.
        var closeRequested = connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? default;
        try
        {
            while (true)
            {
                var result = await connection.Transport.Input.ReadAsync(closeRequested);
                foreach (var segment in result.Buffer)
                {
                    await connection.Transport.Output.WriteAsync(segment);
                }

                connection.Transport.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    record.InputCompletedNormally = true;
                    break;
                }
            }
        }
        catch (OperationCanceledException) when (closeRequested.IsCancellationRequested)
        {
            record.CloseRequested = true;
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

/// <summary>What the handlers saw, shared with the test through DI.</summary>
internal sealed class ConnectionObserver
{
    private readonly Channel<ObservedConnection> _connected = System.Threading.Channels.Channel.CreateUnbounded<ObservedConnection>();

    public ConcurrentBag<ObservedConnection> All { get; } = [];

    /// <summary>
    /// What the handlers caught that a connection's end does not explain: anything but the abort or reset that ends a
    /// connection (idle timeout, a restarted peer, the host stopping). <see cref="DtlsTestHost"/> fails the test on any.
    /// </summary>
    public IReadOnlyList<Exception> UnexpectedErrors =>
        All.Select(c => c.Error).Where(e => e is not null and not ConnectionAbortedException and not ConnectionResetException).ToList()!;

    public ObservedConnection OnConnected(ConnectionContext connection)
    {
        var observed = new ObservedConnection(connection);
        All.Add(observed);
        _connected.Writer.TryWrite(observed);
        return observed;
    }

    public async Task<ObservedConnection> NextAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        return await _connected.Reader.ReadAsync(cts.Token);
    }
}

internal sealed class ObservedConnection(ConnectionContext connection)
{
    public ConnectionContext Connection { get; } = connection;

    public System.Net.Sockets.Socket? Socket { get; } = connection.Features.Get<IConnectionSocketFeature>()?.Socket;

    public bool InputCompletedNormally { get; set; }

    public bool CloseRequested { get; set; }

    public Exception? Error { get; set; }

    public TaskCompletionSource Ended { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}
