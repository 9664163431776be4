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

    public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        var result = await inner.ReadAsync(cancellationToken).ConfigureAwait(false);
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
