using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The options of a connection's two pipes, made once per memory pool and shared by every connection on it: a
/// <see cref="PipeOptions"/> is 72 bytes that each idle connection held twice, though all of a listener's are equal.
/// </summary>
internal static class ConnectionPipeOptions
{
    // Weak on the pool: a listener's pool goes with the listener, and its options with it.
    private static readonly ConditionalWeakTable<MemoryPool<byte>, Set> s_byPool = [];

    /// <summary>The options for a connection's input pipe, its reader (the application) resumed inline or not.</summary>
    public static PipeOptions Input(MemoryPool<byte> pool, bool inlineReader) =>
        inlineReader ? Of(pool).InlineReader : Of(pool).ThreadPoolReader;

    /// <summary>The options for a connection's output pipe, whose reader (the send loop) runs inline.</summary>
    public static PipeOptions Output(MemoryPool<byte> pool) => Of(pool).InlineReader;

    private static Set Of(MemoryPool<byte> pool) => s_byPool.GetValue(pool, static p => new Set(p));

    /// <summary>
    /// Bounded both ways: a handler that stops reading stops our receive loop, and then the kernel drops datagrams (UDP
    /// has no flow control); a fast writer waits for the socket. The writer sides stay on the thread pool: they only
    /// resume after backpressure, and must not run the application's code (output) or our receive loop (input) inside
    /// the other side's AdvanceTo.
    /// </summary>
    private sealed class Set(MemoryPool<byte> pool)
    {
        public PipeOptions InlineReader { get; } = Bounded(pool, PipeScheduler.Inline);

        public PipeOptions ThreadPoolReader { get; } = Bounded(pool, PipeScheduler.ThreadPool);

        private static PipeOptions Bounded(MemoryPool<byte> pool, PipeScheduler readerScheduler) => new(
            pool: pool,
            readerScheduler: readerScheduler,
            writerScheduler: PipeScheduler.ThreadPool,
            pauseWriterThreshold: 64 * 1024,
            resumeWriterThreshold: 32 * 1024,
            useSynchronizationContext: false);
    }
}
