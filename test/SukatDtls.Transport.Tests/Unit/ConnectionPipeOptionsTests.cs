using System.Buffers;
using System.IO.Pipelines;
using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// The options of a connection's pipes (<see cref="ConnectionPipeOptions"/>): made once per memory pool, so ten thousand
/// idle connections do not hold twenty thousand equal copies; bounded and scheduled as the connection needs.
/// </summary>
public sealed class ConnectionPipeOptionsTests
{
    [Fact]
    public void Connections_on_one_pool_share_options_and_other_pools_get_their_own()
    {
        using var pool = new TestPool();
        using var other = new TestPool();

        Assert.Same(ConnectionPipeOptions.Input(pool, inlineReader: false), ConnectionPipeOptions.Input(pool, inlineReader: false));
        Assert.Same(ConnectionPipeOptions.Input(pool, inlineReader: true), ConnectionPipeOptions.Output(pool));
        Assert.NotSame(ConnectionPipeOptions.Input(pool, inlineReader: false), ConnectionPipeOptions.Input(other, inlineReader: false));
        Assert.Same(other, ConnectionPipeOptions.Output(other).Pool);
    }

    [Fact]
    public void Pipes_are_bounded_and_only_the_chosen_reader_runs_inline()
    {
        using var pool = new TestPool();
        var threadPoolReader = ConnectionPipeOptions.Input(pool, inlineReader: false);
        var inlineReader = ConnectionPipeOptions.Output(pool);

        Assert.Same(PipeScheduler.ThreadPool, threadPoolReader.ReaderScheduler);
        Assert.Same(PipeScheduler.Inline, inlineReader.ReaderScheduler);
        foreach (var options in new[] { threadPoolReader, inlineReader })
        {
            Assert.Same(pool, options.Pool);
            Assert.Same(PipeScheduler.ThreadPool, options.WriterScheduler);
            Assert.Equal(64 * 1024, options.PauseWriterThreshold);
            Assert.Equal(32 * 1024, options.ResumeWriterThreshold);
            Assert.False(options.UseSynchronizationContext);
        }
    }

    private sealed class TestPool : MemoryPool<byte>
    {
        public override int MaxBufferSize => Shared.MaxBufferSize;

        public override IMemoryOwner<byte> Rent(int minBufferSize = -1) => Shared.Rent(minBufferSize);

        protected override void Dispose(bool disposing)
        {
        }
    }
}
