using System.Buffers;
using System.Text;

namespace SukatDtls.Samples.NcDtls;

/// <summary>
/// Standard output as raw bytes (binary-safe, no text encoding), written and flushed chunk by chunk; one chunk at a time,
/// so that the data of several peers never interleaves inside a chunk.
/// </summary>
internal sealed class StandardOutput : IDisposable
{
    private readonly Stream _stream = Console.OpenStandardOutput();
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly TaskCompletionSource _broken = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _headerWritten = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <param name="withHeader">
    /// Data waits for <see cref="WriteHeaderAsync"/>: the listener's "Hosting at:" line comes first, even when a client
    /// is quicker than the line.
    /// </param>
    public StandardOutput(bool withHeader)
    {
        if (!withHeader)
        {
            _headerWritten.SetResult();
        }
    }

    /// <summary>Completes when writing failed (the reader of standard output went away).</summary>
    public Task Broken => _broken.Task;

    /// <summary>Writes the header line (UTF-8, "\n"), flushes it, and lets the data follow.</summary>
    public async Task WriteHeaderAsync(string line)
    {
        await WriteCoreAsync(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(line + "\n"))).ConfigureAwait(false);
        _headerWritten.TrySetResult();
    }

    /// <summary>Writes <paramref name="data"/> as one piece and flushes it; false when standard output is broken.</summary>
    public async Task<bool> WriteAsync(ReadOnlySequence<byte> data)
    {
        await _headerWritten.Task.ConfigureAwait(false);
        return await WriteCoreAsync(data).ConfigureAwait(false);
    }

    private async Task<bool> WriteCoreAsync(ReadOnlySequence<byte> data)
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_broken.Task.IsCompleted)
            {
                return false;
            }

            foreach (var segment in data)
            {
                await _stream.WriteAsync(segment).ConfigureAwait(false);
            }

            await _stream.FlushAsync().ConfigureAwait(false);
            return true;
        }
        catch (IOException)
        {
            // EPIPE: nobody reads our output any more (nc would die of SIGPIPE here).
            _broken.TrySetResult();
            return false;
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose()
    {
        _stream.Dispose();
        _gate.Dispose();
    }
}
