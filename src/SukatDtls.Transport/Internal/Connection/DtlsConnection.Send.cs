using System.Buffers;
using Microsoft.AspNetCore.Connections;

namespace SukatDtls.Transport.Internal;

/// <summary>Sending: the output pipe cut into records of at most the record send limit.</summary>
internal sealed partial class DtlsConnection
{
    private async Task SendLoopAsync()
    {
        Exception? error = null;
        try
        {
            while (true)
            {
                var result = await _output.Reader.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                try
                {
                    if (result.IsCanceled)
                    {
                        break;
                    }

                    if (!buffer.IsEmpty)
                    {
                        SendRecords(buffer);
                    }
                }
                finally
                {
                    _output.Reader.AdvanceTo(buffer.End);
                }

                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception ex)
        {
            error = ex;
            if (!_closing)
            {
                DtlsLog.ConnectionError(_logger, ConnectionId, RemoteEndPoint!, "sending failed", ex);
                Abort(new ConnectionAbortedException("Sending to the peer failed.", ex));
            }
        }
        finally
        {
            _output.Reader.Complete(error);
        }
    }

    private void SendRecords(ReadOnlySequence<byte> buffer)
    {
        byte[]? scratch = null;
        try
        {
            lock (_protocolLock)
            {
                var dtls = _dtls!;
                if (_datagrams.IsClosed)
                {
                    return;
                }

                while (!buffer.IsEmpty)
                {
                    int limit = _maxRecordSize;
                    var chunk = buffer.Slice(0, Math.Min(limit, buffer.Length));
                    ReadOnlySpan<byte> record;
                    if (chunk.IsSingleSegment)
                    {
                        record = chunk.FirstSpan;
                    }
                    else
                    {
                        scratch ??= ArrayPool<byte>.Shared.Rent(_maxRecordSize);
                        chunk.CopyTo(scratch);
                        record = scratch.AsSpan(0, (int)chunk.Length);
                    }

                    dtls.Send(record);
                    if (_datagrams.TakeOversizedSend())
                    {
                        // The path MTU is smaller than we thought: the record did not leave. The limit is lower now;
                        // cut the same bytes again (a new record) rather than lose them.
                        _maxRecordSize = dtls.GetSendLimit();
                        continue;
                    }

                    _metrics?.RecordSent(record.Length);
                    buffer = buffer.Slice(chunk.End);
                }
            }
        }
        finally
        {
            if (scratch is not null)
            {
                ArrayPool<byte>.Shared.Return(scratch);
            }
        }
    }
}
