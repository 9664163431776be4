using System.IO.Pipelines;
using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// The connection's input reader (<see cref="RecordCountingPipeReader"/>): a read that waits completes when a record
/// arrives, read after read on the same object, with the inner reader's cancellation and errors; what the application
/// consumes reaches <see cref="RecordBoundaries"/> in both the waiting and the immediate case.
/// </summary>
public sealed class RecordCountingPipeReaderTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Waiting_reads_complete_as_records_arrive_and_consumption_is_counted()
    {
        var pipe = new Pipe(new PipeOptions(useSynchronizationContext: false));
        var boundaries = new RecordBoundaries();
        var reader = new RecordCountingPipeReader(pipe.Reader, boundaries);

        for (int record = 1; record <= 3; record++)
        {
            var read = reader.ReadAsync();
            Assert.False(read.IsCompleted); // nothing written yet: this read waits

            Assert.True(boundaries.TryAdd(record * 10));
            await pipe.Writer.WriteAsync(new byte[record * 10]);
            var result = await read.AsTask().WaitAsync(s_timeout);
            Assert.Equal(record * 10, result.Buffer.Length);

            reader.AdvanceTo(result.Buffer.End);
            Assert.False(boundaries.TryPeek(out _)); // the whole record was consumed
        }

        // Ready at once: the immediate path counts too, a part of the record at a time.
        Assert.True(boundaries.TryAdd(40));
        await pipe.Writer.WriteAsync(new byte[40]);
        var pending = reader.ReadAsync();
        Assert.True(pending.IsCompletedSuccessfully);
        var ready = await pending;
        reader.AdvanceTo(ready.Buffer.GetPosition(15));
        Assert.True(boundaries.TryPeek(out int rest));
        Assert.Equal(25, rest);
    }

    [Fact]
    public async Task A_waiting_read_ends_with_the_inner_readers_cancellation_and_the_next_read_still_works()
    {
        var pipe = new Pipe(new PipeOptions(useSynchronizationContext: false));
        var reader = new RecordCountingPipeReader(pipe.Reader, new RecordBoundaries());

        using (var cts = new CancellationTokenSource())
        {
            var read = reader.ReadAsync(cts.Token);
            cts.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read.AsTask().WaitAsync(s_timeout));
        }

        var canceled = reader.ReadAsync();
        reader.CancelPendingRead();
        Assert.True((await canceled.AsTask().WaitAsync(s_timeout)).IsCanceled);

        var completed = reader.ReadAsync();
        await pipe.Writer.CompleteAsync(new InvalidOperationException("peer gone"));
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => completed.AsTask().WaitAsync(s_timeout));
        Assert.Equal("peer gone", error.Message);
    }
}
