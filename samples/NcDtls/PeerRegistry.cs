using System.Collections.Concurrent;
using System.IO.Pipelines;

namespace SukatDtls.Samples.NcDtls;

/// <summary>
/// The listener's established clients, for sending standard input to all of them. A client's output pipe is written
/// only under its own gate, and its handler takes the gate before it returns (after which Kestrel completes the pipe),
/// so a broadcast never writes to a finished connection.
/// </summary>
internal sealed class PeerRegistry
{
    private readonly ConcurrentDictionary<Peer, byte> _peers = new();

    public int Count => _peers.Count;

    public Peer Add(PipeWriter output)
    {
        var peer = new Peer(output);
        _peers.TryAdd(peer, 0);
        return peer;
    }

    public async Task RemoveAsync(Peer peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        _peers.TryRemove(peer, out _);
        await peer.CloseAsync().ConfigureAwait(false);
        peer.Dispose();
    }

    /// <summary>Sends <paramref name="data"/> to every established client; returns how many there were.</summary>
    public async Task<int> BroadcastAsync(ReadOnlyMemory<byte> data)
    {
        var peers = _peers.Keys.ToArray();
        await Task.WhenAll(peers.Select(peer => peer.SendAsync(data))).ConfigureAwait(false);
        return peers.Length;
    }

    internal sealed class Peer(PipeWriter output) : IDisposable
    {
        private readonly SemaphoreSlim _gate = new(1, 1);
        private readonly CancellationTokenSource _closing = new();
        private bool _closed;

        /// <summary>Writes and flushes <paramref name="data"/> unless the client is gone; never throws.</summary>
        public async Task SendAsync(ReadOnlyMemory<byte> data)
        {
            try
            {
                await _gate.WaitAsync(_closing.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                // Closed (and disposed) while this broadcast started.
                return;
            }

            try
            {
                if (!_closed)
                {
                    await output.WriteAsync(data, _closing.Token).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException or IOException
                or Microsoft.AspNetCore.Connections.ConnectionAbortedException)
            {
                // The client is going away; standard input is no longer for it.
            }
            finally
            {
                ReleaseGate();
            }
        }

        public async Task CloseAsync()
        {
            // A send waiting for a slow client gives up first, so that the handler never waits for it.
            await _closing.CancelAsync().ConfigureAwait(false);
            await _gate.WaitAsync().ConfigureAwait(false);
            _closed = true;
            _gate.Release();
        }

        private void ReleaseGate()
        {
            try
            {
                _gate.Release();
            }
            catch (ObjectDisposedException)
            {
                // Acquired in the instant between CloseAsync and Dispose; it wrote nothing (closed).
            }
        }

        public void Dispose()
        {
            _gate.Dispose();
            _closing.Dispose();
        }
    }
}
