using System.IO.Pipelines;

namespace SukatDtls.Transport.Internal;

/// <summary>The connection's <c>Transport</c>: the input pipe's reader and the output pipe's writer.</summary>
internal sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
{
    public PipeReader Input { get; } = input;

    public PipeWriter Output { get; } = output;
}
