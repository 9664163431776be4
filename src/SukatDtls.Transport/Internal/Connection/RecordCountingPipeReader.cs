using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The connection's <c>Transport.Input</c>: the input pipe's reader, reporting every consumed byte to
/// <see cref="RecordBoundaries"/> so that pipe reads and the datagram view can be mixed without losing record edges.
/// </summary>
/// <remarks>
/// A read that has to wait completes through this object itself (<see cref="IValueTaskSource{TResult}"/>), not an
/// async method: an idle connection always has one read waiting, and a state machine box for it was 256 bytes of every
/// idle session. One read at a time, as <see cref="PipeReader"/> requires; the application's continuation runs on the
/// thread that completes the inner read, as it did after an awaited <c>ConfigureAwait(false)</c>.
/// </remarks>
internal sealed class RecordCountingPipeReader : PipeReader, IValueTaskSource<ReadResult>
{
    private readonly PipeReader _inner;
    private readonly RecordBoundaries _boundaries;
    private readonly Action _onInnerReadCompleted;
    private ReadOnlySequence<byte> _lastBuffer;
    private ManualResetValueTaskSourceCore<ReadResult> _read;
    private ConfiguredValueTaskAwaitable<ReadResult>.ConfiguredValueTaskAwaiter _innerRead;

    public RecordCountingPipeReader(PipeReader inner, RecordBoundaries boundaries)
    {
        _inner = inner;
        _boundaries = boundaries;
        _onInnerReadCompleted = OnInnerReadCompleted;
    }

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        var pending = _inner.ReadAsync(cancellationToken);
        if (pending.IsCompletedSuccessfully)
        {
            var result = pending.Result;
            _lastBuffer = result.Buffer;
            return new ValueTask<ReadResult>(result);
        }

        _read.Reset();
        _innerRead = pending.ConfigureAwait(false).GetAwaiter();
        _innerRead.UnsafeOnCompleted(_onInnerReadCompleted);
        return new ValueTask<ReadResult>(this, _read.Version);
    }

    public override bool TryRead(out ReadResult result)
    {
        if (_inner.TryRead(out result))
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
        _inner.AdvanceTo(consumed, examined);
        _lastBuffer = default;
        _boundaries.OnConsumed(consumedBytes);
    }

    public override void CancelPendingRead() => _inner.CancelPendingRead();

    public override void Complete(Exception? exception = null) => _inner.Complete(exception);

    ReadResult IValueTaskSource<ReadResult>.GetResult(short token) => _read.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token) => _read.GetStatus(token);

    void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _read.OnCompleted(continuation, state, token, flags);

    private void OnInnerReadCompleted()
    {
        var innerRead = _innerRead;
        _innerRead = default;
        ReadResult result;
        try
        {
            result = innerRead.GetResult();
        }
        catch (Exception ex)
        {
            _read.SetException(ex);
            return;
        }

        _lastBuffer = result.Buffer;
        _read.SetResult(result);
    }
}
