using System.Buffers;
using System.IO.Pipelines;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The connection's <c>Transport.Input</c>: the input pipe's reader, reporting every consumed byte to
/// <see cref="RecordBoundaries"/> so that pipe reads and the datagram view can be mixed without losing record edges.
/// </summary>
internal sealed class RecordCountingPipeReader(PipeReader inner, RecordBoundaries boundaries) : PipeReader
{
    private ReadOnlySequence<byte> _lastBuffer;

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        var pending = inner.ReadAsync(cancellationToken);
        if (pending.IsCompletedSuccessfully)
        {
            var result = pending.Result;
            _lastBuffer = result.Buffer;
            return new ValueTask<ReadResult>(result);
        }

        return ReadAsyncAwaited(pending);
    }

    // A reader usually waits for the next record, so this path runs once per record: the pooling builder reuses its
    // state machine box instead of allocating one (~200 bytes) per wait.
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ReadResult> ReadAsyncAwaited(ValueTask<ReadResult> pending)
    {
        var result = await pending.ConfigureAwait(false);
        _lastBuffer = result.Buffer;
        return result;
    }

    public override bool TryRead(out ReadResult result)
    {
        if (inner.TryRead(out result))
        {
            _lastBuffer = result.Buffer;
            return true;
        }

        return false;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        long consumedBytes = _lastBuffer.Slice(_lastBuffer.Start, consumed).Length;
        inner.AdvanceTo(consumed, examined);
        _lastBuffer = default;
        boundaries.OnConsumed(consumedBytes);
    }

    public override void CancelPendingRead() => inner.CancelPendingRead();

    public override void Complete(Exception? exception = null) => inner.Complete(exception);
}
