using System.Buffers;
using Microsoft.AspNetCore.Connections;
using SukatDtls.Transport.Features;

namespace SukatDtls.Transport.Internal;

/// <summary>The datagram view (<see cref="IDtlsDatagramFeature"/>): one record per call, over the same input pipe as <c>Transport</c>.</summary>
internal sealed partial class DtlsConnection : IDtlsDatagramFeature
{
    int IDtlsDatagramFeature.MaxRecordSize => _maxRecordSize;

    int IDtlsDatagramFeature.MaxReceiveRecordSize => DtlsRecordLayer.MaxPlaintextLength;

    bool IDtlsDatagramFeature.IsCompleted => _datagramViewCompleted;

    async ValueTask<int> IDtlsDatagramFeature.ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken)
    {
        var reader = _inputReader;
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var data = result.Buffer;
            if (_boundaries.TryPeek(out int length) && data.Length >= length)
            {
                if (length > buffer.Length)
                {
                    reader.AdvanceTo(data.Start);
                    throw new ArgumentException(
                        $"The next record has {length} bytes but the buffer holds {buffer.Length}; nothing was consumed. Use a buffer of at least MaxReceiveRecordSize ({DtlsRecordLayer.MaxPlaintextLength}) bytes.",
                        nameof(buffer));
                }

                var recordData = data.Slice(0, length);
                recordData.CopyTo(buffer.Span);
                reader.AdvanceTo(recordData.End);
                return length;
            }

            reader.AdvanceTo(data.Start, data.End);
            if (result.IsCompleted)
            {
                _datagramViewCompleted = true;
                return 0;
            }

            if (result.IsCanceled)
            {
                throw new OperationCanceledException("The pending receive was canceled.");
            }
        }
    }

    ValueTask IDtlsDatagramFeature.SendAsync(ReadOnlyMemory<byte> record, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (record.Length > _maxRecordSize)
        {
            throw new ArgumentException(
                $"A record of {record.Length} bytes does not fit: this connection carries at most {_maxRecordSize} bytes per record.",
                nameof(record));
        }

        if (_closing || Volatile.Read(ref _records) is not { } records)
        {
            throw new ConnectionAbortedException("The DTLS connection is closed.");
        }

        byte[] datagram = ArrayPool<byte>.Shared.Rent(records.SealedLength(record.Length));
        try
        {
            int length = records.Seal(DtlsContentType.ApplicationData, record.Span, datagram);
            if (!TrySend(datagram.AsSpan(0, length)))
            {
                throw new InvalidOperationException(
                    $"The path to the peer carries smaller datagrams than expected: the record of {record.Length} bytes was not sent; records carry at most {_maxRecordSize} bytes now (MaxRecordSize).");
            }
        }
        catch (ObjectDisposedException ex)
        {
            throw new ConnectionAbortedException("The DTLS connection is closed.", ex);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(datagram);
        }

        _metrics?.RecordSent(record.Length);
        return ValueTask.CompletedTask;
    }
}
