using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>
/// A UDP relay on loopback for many clients, adding a fixed delay each way: a network with a real round-trip time.
/// Clients send to <see cref="EndPoint"/>; each client gets an upstream socket of its own towards the server (as a
/// NAT would give it a port), so the server sees one peer per client. Order is kept (the delay is the same for all).
/// </summary>
/// <remarks>
/// <para>
/// Built to carry hundreds of concurrent handshakes on a couple of cores without becoming the bottleneck (the
/// benchmark's 'latency' scenario runs 600 at once through it): the clients' side is read by a thread of its own
/// (blocking receives, no thread-pool hop per datagram, a large socket receive buffer so that a burst of first
/// flights is not dropped), the delay line is one FIFO queue drained by a thread of its own that sleeps until the
/// oldest datagram is due and then sends every datagram that is due (no timer per datagram), and each upstream
/// socket waits for the server with a zero-byte peek and then reads the datagram at its exact size (no 64 KiB
/// buffer held per client while it waits).
/// </para>
/// <para>Every loop ends when the relay is disposed; disposal waits for them (bounded) and closes every socket.</para>
/// </remarks>
internal sealed class LatencyRelay : IAsyncDisposable
{
    /// <summary>Asked for the clients' socket (Linux caps it at <c>net.core.rmem_max</c>/<c>wmem_max</c>).</summary>
    private const int ClientSideBufferBytes = 4 << 20;

    private readonly Socket _clientSide;
    private readonly IPEndPoint _server;
    private readonly long _delayTicks;
    private readonly ConcurrentDictionary<SocketAddress, Upstream> _upstreams = new();
    private readonly Queue<Delayed> _line = new(); // guarded by itself
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _fromClients;
    private readonly Thread _delayLine;
    private readonly List<Task> _loops = [];
    private bool _stopping; // guarded by _line
    private long _datagramsToServer;
    private int _disposed;
    private long _datagramsToClients;

    /// <param name="server">The server (loopback).</param>
    /// <param name="oneWayDelay">Added to every datagram in each direction (the round-trip time is twice this).</param>
    public LatencyRelay(IPEndPoint server, TimeSpan oneWayDelay)
    {
        if (!IPAddress.IsLoopback(server.Address))
        {
            throw new ArgumentException($"The relay relays on loopback only, not to {server}.", nameof(server));
        }

        _server = server;
        _delayTicks = (long)(oneWayDelay.TotalSeconds * Stopwatch.Frequency);
        _clientSide = new Socket(server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            _clientSide.ReceiveBufferSize = ClientSideBufferBytes;
            _clientSide.SendBufferSize = ClientSideBufferBytes;
        }
        catch (SocketException)
        {
            // Keep the default sizes.
        }

        _clientSide.Bind(new IPEndPoint(server.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Loopback : IPAddress.Loopback, 0));
        EndPoint = (IPEndPoint)_clientSide.LocalEndPoint!;
        _fromClients = new Thread(FromClientsLoop) { IsBackground = true, Name = "LatencyRelay clients" };
        _delayLine = new Thread(DelayLineLoop) { IsBackground = true, Name = "LatencyRelay delay line" };
        _fromClients.Start();
        _delayLine.Start();
    }

    /// <summary>Where clients send.</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>Clients seen so far.</summary>
    public int Clients => _upstreams.Count;

    public long DatagramsToServer => Interlocked.Read(ref _datagramsToServer);

    public long DatagramsToClients => Interlocked.Read(ref _datagramsToClients);

    /// <summary>
    /// A NAT rebinding for every client: each gets a new upstream socket (a new source port at the server) and its old
    /// one is closed (what the server sends there is lost). Returns how many clients were rebound.
    /// </summary>
    public int RebindAll()
    {
        int rebound = 0;
        foreach (var (client, old) in _upstreams)
        {
            var socket = new Socket(_server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
            socket.Connect(_server);
            var upstream = new Upstream(socket, client);
            _upstreams[client] = upstream;
            lock (_loops)
            {
                _loops.Add(Task.Run(() => FromServerLoopAsync(upstream)));
            }

            old.Socket.Dispose();
            rebound++;
        }

        return rebound;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync();
        lock (_line)
        {
            _stopping = true;
            _line.Clear();
            Monitor.PulseAll(_line);
        }

        _clientSide.Dispose(); // ends the blocking receive of the clients' thread
        foreach (var upstream in _upstreams.Values)
        {
            upstream.Socket.Dispose();
        }

        Task[] loops;
        lock (_loops)
        {
            loops = [.. _loops];
        }

        try
        {
            await Task.WhenAll(loops).WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException or TimeoutException)
        {
            // The loops end on cancellation or on their disposed socket.
        }

        _fromClients.Join(TimeSpan.FromSeconds(5));
        _delayLine.Join(TimeSpan.FromSeconds(5));
        foreach (var upstream in _upstreams.Values)
        {
            upstream.Socket.Dispose(); // any created while the clients' thread was ending
        }

        _stop.Dispose();
    }

    private void FromClientsLoop()
    {
        var buffer = new byte[65_535];
        var from = new SocketAddress(EndPoint.AddressFamily);
        while (!_stop.IsCancellationRequested)
        {
            int length;
            try
            {
                length = _clientSide.ReceiveFrom(buffer, SocketFlags.None, from);
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionRefused or SocketError.ConnectionReset)
            {
                continue;
            }
            catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
            {
                return;
            }

            if (!_upstreams.TryGetValue(from, out var upstream))
            {
                upstream = CreateUpstream(Copy(from));
                if (upstream is null)
                {
                    return; // disposed meanwhile
                }
            }

            Enqueue(new Delayed(upstream, ToServer: true, buffer.AsSpan(0, length).ToArray()));
        }
    }

    private Upstream? CreateUpstream(SocketAddress client)
    {
        var socket = new Socket(_server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.Connect(_server);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            socket.Dispose();
            return null;
        }

        var upstream = new Upstream(socket, client);
        _upstreams[client] = upstream;
        lock (_loops)
        {
            _loops.Add(Task.Run(() => FromServerLoopAsync(upstream)));
        }

        if (_stop.IsCancellationRequested)
        {
            socket.Dispose();
        }

        return upstream;
    }

    private async Task FromServerLoopAsync(Upstream upstream)
    {
        var socket = upstream.Socket;
        while (!_stop.IsCancellationRequested)
        {
            byte[] data;
            try
            {
                // Wait without a buffer (a zero-byte peek leaves the datagram queued), then read it at its size:
                // on Linux, Available is the size of the next datagram.
                await socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.Peek, _stop.Token);
                data = new byte[socket.Available];
                int length = socket.Receive(data, SocketFlags.None);
                if (length != data.Length)
                {
                    data = data.AsSpan(0, length).ToArray();
                }
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionRefused or SocketError.ConnectionReset or SocketError.MessageSize)
            {
                continue;
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            Enqueue(new Delayed(upstream, ToServer: false, data));
        }
    }

    private void Enqueue(Delayed datagram)
    {
        datagram = datagram with { Due = Stopwatch.GetTimestamp() + _delayTicks };
        lock (_line)
        {
            if (_stopping)
            {
                return;
            }

            _line.Enqueue(datagram);
            if (_line.Count == 1)
            {
                Monitor.Pulse(_line); // the delay line waits for an empty line to fill, or for the head, which is older
            }
        }
    }

    private void DelayLineLoop()
    {
        var due = new List<Delayed>();
        while (true)
        {
            lock (_line)
            {
                while (true)
                {
                    if (_stopping)
                    {
                        return;
                    }

                    if (_line.Count == 0)
                    {
                        Monitor.Wait(_line);
                        continue;
                    }

                    long wait = _line.Peek().Due - Stopwatch.GetTimestamp();
                    if (wait <= 0)
                    {
                        break;
                    }

                    Monitor.Wait(_line, (int)Math.Ceiling(wait * 1000.0 / Stopwatch.Frequency));
                }

                long now = Stopwatch.GetTimestamp();
                while (_line.Count > 0 && _line.Peek().Due <= now)
                {
                    due.Add(_line.Dequeue());
                }
            }

            foreach (var datagram in due)
            {
                Send(datagram);
            }

            due.Clear();
        }
    }

    private void Send(Delayed datagram)
    {
        try
        {
            if (datagram.ToServer)
            {
                datagram.Upstream.Socket.Send(datagram.Data);
                Interlocked.Increment(ref _datagramsToServer);
            }
            else
            {
                _clientSide.SendTo(datagram.Data, SocketFlags.None, datagram.Upstream.Client);
                Interlocked.Increment(ref _datagramsToClients);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Lost, as on a network (or the relay is closing).
        }
    }

    private static SocketAddress Copy(SocketAddress address)
    {
        var copy = new SocketAddress(address.Family, address.Size);
        address.Buffer.Span[..address.Size].CopyTo(copy.Buffer.Span);
        return copy;
    }

    /// <param name="Client">The client's address (a copy: the key of <see cref="_upstreams"/>).</param>
    private sealed record Upstream(Socket Socket, SocketAddress Client);

    private sealed record Delayed(Upstream Upstream, bool ToServer, byte[] Data)
    {
        public long Due { get; init; }
    }
}
