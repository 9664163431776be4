using Microsoft.AspNetCore.Connections;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>Echoes the first read, then ends: the server closes the connection.</summary>
internal sealed class CloseAfterFirstRecordHandler(ConnectionObserver observer) : ConnectionHandler
{
    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        var record = observer.OnConnected(connection);
        var result = await connection.Transport.Input.ReadAsync();
        foreach (var segment in result.Buffer)
        {
            await connection.Transport.Output.WriteAsync(segment);
        }

        connection.Transport.Input.AdvanceTo(result.Buffer.End);
        record.Ended.TrySetResult();
    }
}
