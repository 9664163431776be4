using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Benchmarks;

/// <summary>
/// Silent peers at a steady rate from one source address (<see cref="SilentPeer"/>: ClientHello, HelloVerifyRequest,
/// ClientHello with the cookie, then nothing). Every peer keeps its socket open until the flood is disposed — an
/// attacker's host sends no ICMP port-unreachable that would end the server's handshake early — and at most
/// <c>maxPeers</c> are started, so the sockets are bounded.
/// </summary>
internal sealed class SilentFlood : IAsyncDisposable
{
    private readonly IPEndPoint _server;
    private readonly IPAddress _from;
    private readonly double _perSecond;
    private readonly int _maxPeers;
    private readonly ConcurrentQueue<Socket> _sockets = new();
    private readonly CancellationTokenSource _stop = new();
    private Task? _loop;
    private int _started;
    private int _silent;
    private int _unanswered;

    public SilentFlood(IPEndPoint server, IPAddress from, double perSecond, int maxPeers)
    {
        _server = server;
        _from = from;
        _perSecond = perSecond;
        _maxPeers = maxPeers;
    }

    /// <summary>Peers that passed the cookie exchange and went silent.</summary>
    public int Silent => Volatile.Read(ref _silent);

    /// <summary>Peers that got no HelloVerifyRequest within 5 s (or whose socket failed).</summary>
    public int Unanswered => Volatile.Read(ref _unanswered);

    public void Start()
    {
        _ = DtlsRecords.ClientHello; // captured once (a BouncyCastle client's first flight) before the clock starts
        _loop = Task.Run(SendLoopAsync);
    }

    /// <summary>Starts no more peers and waits for the cookie exchanges under way (at most 5 s each); sockets stay open.</summary>
    public async Task StopSendingAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopSendingAsync().ConfigureAwait(false);
        while (_sockets.TryDequeue(out var socket))
        {
            socket.Dispose();
        }

        _stop.Dispose();
    }

    private async Task SendLoopAsync()
    {
        var clock = Stopwatch.StartNew();
        var exchanges = new List<Task>();
        while (!_stop.IsCancellationRequested && _started < _maxPeers)
        {
            int due = Math.Min(_maxPeers, (int)(clock.Elapsed.TotalSeconds * _perSecond) + 1);
            for (; _started < due; _started++)
            {
                exchanges.Add(OnePeerAsync());
            }

            try
            {
                await Task.Delay(5, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        await Task.WhenAll(exchanges).ConfigureAwait(false);
    }

    private async Task OnePeerAsync()
    {
        try
        {
            var socket = await SilentPeer.PassCookieAsync(_server, _from).ConfigureAwait(false);
            _sockets.Enqueue(socket);
            Interlocked.Increment(ref _silent);
        }
        catch (Exception e) when (e is TimeoutException or SocketException)
        {
            Interlocked.Increment(ref _unanswered);
        }
    }
}
