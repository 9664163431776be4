using System.Net;
using System.Net.Sockets;
using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>
/// Sends raw datagrams to a DTLS listener from plain UDP sockets on loopback, in paced bursts: after every burst it
/// waits (bounded) until the listener has received everything sent so far, so that nothing is lost to a full socket
/// buffer and the statistics are complete when the test asserts.
/// </summary>
internal sealed class RawUdpSender : IDisposable
{
    private readonly IPEndPoint _target;
    private readonly DtlsListenerStatistics _statistics;
    private readonly long _baseline;
    private readonly int _burstSize;
    private readonly List<Socket> _sockets = [];
    private readonly Socket[] _pool;
    private int _next;
    private int _inBurst;

    /// <param name="target">The listener; must be a loopback address (the test sends junk, and only to itself).</param>
    /// <param name="poolSize">How many sockets (source ports) <see cref="SendAsync(byte[])"/> rotates through.</param>
    public RawUdpSender(IPEndPoint target, DtlsListenerStatistics statistics, int poolSize = 64, int burstSize = 32)
    {
        if (!IPAddress.IsLoopback(target.Address))
        {
            throw new ArgumentException($"Hostile datagrams go to loopback only, not to {target}.", nameof(target));
        }

        _target = target;
        _statistics = statistics;
        _baseline = statistics.DatagramsReceived;
        _burstSize = burstSize;
        _pool = Enumerable.Range(0, poolSize).Select(_ => NewSocket()).ToArray();
    }

    /// <summary>Datagrams sent so far.</summary>
    public int Sent { get; private set; }

    /// <summary>A new socket bound to an ephemeral loopback port: a new source address for the listener.</summary>
    public Socket NewSocket()
    {
        var socket = new Socket(_target.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.Bind(new IPEndPoint(_target.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Loopback : IPAddress.Loopback, 0));
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        _sockets.Add(socket);
        return socket;
    }

    /// <summary>Sends from the next socket of the pool.</summary>
    public Task SendAsync(byte[] datagram)
    {
        var socket = _pool[_next];
        _next = (_next + 1) % _pool.Length;
        return SendAsync(datagram, socket);
    }

    public async Task SendAsync(byte[] datagram, Socket from)
    {
        int sent = from.SendTo(datagram, SocketFlags.None, _target);
        if (sent != datagram.Length)
        {
            throw new InvalidOperationException($"Sent {sent} of {datagram.Length} bytes.");
        }

        Sent++;
        if (++_inBurst >= _burstSize)
        {
            await WaitUntilReceivedAsync();
        }
    }

    /// <summary>Waits (bounded) until the listener has received every datagram sent so far.</summary>
    public async Task WaitUntilReceivedAsync(int timeoutMillis = 5_000)
    {
        _inBurst = 0;
        long expected = _baseline + Sent;
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMillis);
        while (_statistics.DatagramsReceived < expected)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException(
                    $"The listener received {_statistics.DatagramsReceived - _baseline} of the {Sent} datagrams sent within {timeoutMillis} ms (lost on loopback?).");
            }

            await Task.Delay(1);
        }
    }

    /// <summary>The next datagram that arrives on <paramref name="socket"/>, or a timeout.</summary>
    public static async Task<byte[]> ReceiveAsync(Socket socket, TimeSpan timeout)
    {
        var buffer = new byte[2048];
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            int length = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            return buffer.AsSpan(0, length).ToArray();
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            throw new TimeoutException($"Nothing arrived on {socket.LocalEndPoint} within {timeout.TotalSeconds:0.#} s.");
        }
    }

    public void Dispose()
    {
        foreach (var socket in _sockets)
        {
            socket.Dispose();
        }
    }
}
