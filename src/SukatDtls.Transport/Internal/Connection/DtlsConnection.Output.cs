using System.Buffers;
using System.IO.Pipelines;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The output side: the pipe the application writes through <c>Transport.Output</c> and the send loop that cuts it
/// into records (<see cref="SendLoopAsync"/>). Made on the application's first use of <c>Transport.Output</c>: a
/// handler that sends through the datagram feature (<c>IDtlsDatagramFeature.SendAsync</c>) never needs it, and an idle
/// connection of such a handler then holds no output pipe and no send loop waiting on it (about 740 bytes).
/// </summary>
internal sealed partial class DtlsConnection
{
    private readonly MemoryPool<byte> _memoryPool;

    // Null until the application first asks for Transport.Output; OutputSide.Closed once the connection is disposed.
    private OutputSide? _outputSide;

    /// <summary>The output pipe's writer, made on first use.</summary>
    private PipeWriter OutputWriter => (Volatile.Read(ref _outputSide) ?? CreateOutputSide()).Pipe.Writer;

    private OutputSide CreateOutputSide()
    {
        var created = new OutputSide(new Pipe(ConnectionPipeOptions.Output(_memoryPool)));
        var side = Interlocked.CompareExchange(ref _outputSide, created, null) ?? created;

        // After the exchange (a full fence), so that this or the hand-over (StartSendingIfWritten) sees the other.
        if (ReferenceEquals(side, created) && Volatile.Read(ref _records) is not null)
        {
            StartSending(side);
        }

        return side;
    }

    /// <summary>At the hand-over, the record layer published: starts sending if an output was already made.</summary>
    private void StartSendingIfWritten()
    {
        // The record layer's publication before this read; CreateOutputSide fences the other way.
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _outputSide) is { } side && side != OutputSide.Closed)
        {
            StartSending(side);
        }
    }

    private void StartSending(OutputSide side)
    {
        if (Interlocked.Exchange(ref side.Started, 1) == 0)
        {
            side.Loop = SendLoopAsync(side.Pipe.Reader);
        }
    }

    /// <summary>Ends a waiting read of the send loop (abort, close_notify received): the loop then stops.</summary>
    private void CancelPendingSend()
    {
        if (Volatile.Read(ref _outputSide) is { } side && side != OutputSide.Closed)
        {
            side.Pipe.Reader.CancelPendingRead();
        }
    }

    /// <summary>
    /// Disposing: the application is done writing. Completes the output, so the send loop sends what is left and ends;
    /// returns the loop. From here on <c>Transport.Output</c> is a completed writer.
    /// </summary>
    private Task CompleteOutput()
    {
        var side = Interlocked.Exchange(ref _outputSide, OutputSide.Closed);
        if (side is null || side == OutputSide.Closed)
        {
            return Task.CompletedTask;
        }

        side.Pipe.Writer.Complete();
        if (Interlocked.Exchange(ref side.Started, 1) == 0)
        {
            // Never started (no records yet), and now it never will: nothing reads what was written.
            side.Pipe.Reader.Complete();
        }

        return side.Loop ?? Task.CompletedTask;
    }

    /// <summary>
    /// The connection's <c>Transport</c>: the input reader, and the output pipe's writer, made when first asked for.
    /// </summary>
    private sealed class ConnectionTransport(PipeReader input, DtlsConnection connection) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output => connection.OutputWriter;
    }

    private sealed class OutputSide(Pipe pipe)
    {
        /// <summary>What a disposed connection's output is: a writer already completed.</summary>
        public static readonly OutputSide Closed = CreateClosed();

        public readonly Pipe Pipe = pipe;

        public int Started;

        public Task? Loop;

        private static OutputSide CreateClosed()
        {
            var pipe = new Pipe();
            pipe.Writer.Complete();
            pipe.Reader.Complete();
            return new OutputSide(pipe) { Started = 1 };
        }
    }
}
