using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>
/// A UDP relay on loopback for many clients, adding a fixed delay each way: a network with a real round-trip time.
/// Clients send to <see cref="EndPoint"/>; each client gets an upstream socket of its own towards the server (as a
/// NAT would give it a port), so the server sees one peer per client. Order is kept (the delay is the same for all).
/// </summary>
/// <remarks>Every loop ends when the relay is disposed; disposal waits for them (bounded) and closes every socket.</remarks>
internal sealed class LatencyRelay : IAsyncDisposable
{
    private readonly Socket _clientSide;
    private readonly IPEndPoint _server;
    private readonly TimeSpan _delay;
    private readonly ConcurrentDictionary<IPEndPoint, Upstream> _upstreams = new();
    private readonly Channel<Delayed> _line = Channel.CreateUnbounded<Delayed>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];
    private long _datagramsToServer;
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
        _delay = oneWayDelay;
        _clientSide = new Socket(server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        _clientSide.Bind(new IPEndPoint(server.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Loopback : IPAddress.Loopback, 0));
        EndPoint = (IPEndPoint)_clientSide.LocalEndPoint!;
        _loops.Add(Task.Run(FromClientsLoopAsync));
        _loops.Add(Task.Run(DelayLineLoopAsync));
    }

    /// <summary>Where clients send.</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>Clients seen so far.</summary>
    public int Clients => _upstreams.Count;

    public long DatagramsToServer => Interlocked.Read(ref _datagramsToServer);

    public long DatagramsToClients => Interlocked.Read(ref _datagramsToClients);

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _line.Writer.TryComplete();
        _clientSide.Dispose();
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
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException or ChannelClosedException)
        {
            // The loops end on cancellation or on their disposed socket.
        }

        _stop.Dispose();
    }

    private async Task FromClientsLoopAsync()
    {
        var buffer = new byte[65_535];
        EndPoint any = new IPEndPoint(EndPoint.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        while (!_stop.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await _clientSide.ReceiveFromAsync(buffer, SocketFlags.None, any, _stop.Token);
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionRefused or SocketError.ConnectionReset)
            {
                continue;
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            var client = (IPEndPoint)received.RemoteEndPoint;
            var upstream = _upstreams.GetOrAdd(client, CreateUpstream);
            Enqueue(new Delayed(upstream.Socket, null, buffer.AsSpan(0, received.ReceivedBytes).ToArray()));
        }
    }

    private Upstream CreateUpstream(IPEndPoint client)
    {
        var socket = new Socket(_server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        socket.Connect(_server);
        var upstream = new Upstream(socket);
        lock (_loops)
        {
            _loops.Add(Task.Run(() => FromServerLoopAsync(upstream, client)));
        }

        return upstream;
    }

    private async Task FromServerLoopAsync(Upstream upstream, IPEndPoint client)
    {
        var buffer = new byte[65_535];
        while (!_stop.IsCancellationRequested)
        {
            int length;
            try
            {
                length = await upstream.Socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionRefused or SocketError.ConnectionReset)
            {
                continue;
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            Enqueue(new Delayed(_clientSide, client, buffer.AsSpan(0, length).ToArray()));
        }
    }

    private void Enqueue(Delayed datagram) =>
        _line.Writer.TryWrite(datagram with { Due = DateTime.UtcNow + _delay });

    private async Task DelayLineLoopAsync()
    {
        try
        {
            await foreach (var datagram in _line.Reader.ReadAllAsync(_stop.Token))
            {
                var wait = datagram.Due - DateTime.UtcNow;
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, _stop.Token);
                }

                try
                {
                    if (datagram.To is { } client)
                    {
                        datagram.Socket.SendTo(datagram.Data, client);
                        Interlocked.Increment(ref _datagramsToClients);
                    }
                    else
                    {
                        datagram.Socket.Send(datagram.Data);
                        Interlocked.Increment(ref _datagramsToServer);
                    }
                }
                catch (SocketException)
                {
                    // Lost, as on a network.
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    private sealed record Upstream(Socket Socket);

    private sealed record Delayed(Socket Socket, IPEndPoint? To, byte[] Data)
    {
        public DateTime Due { get; init; }
    }
}
