using System.Net;
using System.Net.Sockets;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>How <see cref="ImpairmentProxy"/> treats the datagrams of one direction. Immutable; swap it to change.</summary>
internal sealed record Impairment
{
    /// <summary>No impairment: every datagram is forwarded at once, in order.</summary>
    public static readonly Impairment None = new();

    /// <summary>Fraction of datagrams dropped (0 to 1).</summary>
    public double Drop { get; init; }

    /// <summary>Fraction of forwarded datagrams sent twice.</summary>
    public double Duplicate { get; init; }

    /// <summary>
    /// Fraction of forwarded datagrams held back and released right after the next datagram of the same direction (or
    /// after <see cref="MaxHoldMillis"/> when none comes).
    /// </summary>
    public double Reorder { get; init; }

    /// <summary>Each forwarded datagram waits this long (a path's latency; keeps the order).</summary>
    public int DelayMillis { get; init; }

    /// <summary>
    /// Each forwarded datagram waits a further random 0 to this many milliseconds (jitter, which reorders datagrams sent
    /// closer together than that, such as the records of one handshake flight).
    /// </summary>
    public int MaxJitterMillis { get; init; }

    /// <summary>How long a held (reordered) datagram waits at most for a successor.</summary>
    public int MaxHoldMillis { get; init; } = 100;

    /// <summary>Datagrams larger than this are dropped (a path MTU), else none.</summary>
    public int? MaxDatagramSize { get; init; }

    /// <summary>The first this many datagrams of the direction pass unimpaired (still counted and measured).</summary>
    public int PassFirst { get; init; }

    /// <summary>These datagrams of the direction (1-based, counted since the proxy started) are dropped, whatever else.</summary>
    public IReadOnlySet<long> DropNumbers { get; init; } = new HashSet<long>();
}

/// <summary>
/// An in-process UDP relay on loopback between one client and one server, which impairs the traffic: loss (per
/// direction), duplication, reordering, delay and a datagram size limit. The client sends to <see cref="EndPoint"/>;
/// the proxy talks to the server from a socket of its own, and sends the server's datagrams to the client endpoint that
/// last sent it one.
/// </summary>
/// <remarks>
/// Deterministic from the seed: each direction has its own <see cref="Random"/> (seeded from the seed), consumed in the
/// order datagrams arrive in that direction, with the same number of draws for every datagram whatever the
/// settings. The timing (and so which datagram is the n-th) may still vary from run to run.
/// Every loop ends when the proxy is disposed; disposal waits for them (bounded) and closes both sockets.
/// </remarks>
internal sealed class ImpairmentProxy : IAsyncDisposable
{
    private const int ReceiveBufferSize = 65_535;

    private readonly Socket _clientSide;
    private volatile Socket _serverSide;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops;
    private readonly Lock _clientLock = new();
    private IPEndPoint? _client;

    /// <param name="server">The server (loopback).</param>
    /// <param name="seed">The seed of the impairment decisions.</param>
    public ImpairmentProxy(IPEndPoint server, int seed)
    {
        RequireLoopback(server, nameof(server));
        Server = server;
        Seed = seed;
        ClientToServer = new DirectionState("client→server", seed);
        ServerToClient = new DirectionState("server→client", unchecked((seed * 7919) + 1));

        _clientSide = new Socket(server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        _serverSide = new Socket(server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            var loopback = server.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Loopback : IPAddress.Loopback;
            _clientSide.Bind(new IPEndPoint(loopback, 0));
            _serverSide.Bind(new IPEndPoint(loopback, 0));
            _serverSide.Connect(server);
            EndPoint = (IPEndPoint)_clientSide.LocalEndPoint!;
        }
        catch
        {
            _clientSide.Dispose();
            _serverSide.Dispose();
            _stop.Dispose();
            throw;
        }

        _loops =
        [
            Task.Run(ReceiveFromClientLoopAsync),
            Task.Run(() => ReceiveFromServerLoopAsync(_serverSide)),
            Task.Run(() => SendLoopAsync(ClientToServer, SendToServerAsync)),
            Task.Run(() => SendLoopAsync(ServerToClient, SendToClientAsync)),
        ];
        ServerSidePort = ((IPEndPoint)_serverSide.LocalEndPoint!).Port;
    }

    /// <summary>Where the client sends.</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>The port the server sees the client's datagrams come from (it changes with <see cref="Rebind"/>).</summary>
    public int ServerSidePort { get; private set; }

    /// <summary>
    /// A NAT rebinding: from now on the client's datagrams reach the server from a new port (a new socket), and the old
    /// port is gone (what the server sends there is lost).
    /// </summary>
    /// <param name="port">The new port; 0 for any (a NAT may give out a port another client had a moment ago).</param>
    /// <param name="via">
    /// Where the server is reached from now on: a dual-stack server's other loopback (<c>::1</c> instead of
    /// <c>127.0.0.1</c>: the client moves to another address family); null: where it was.
    /// </param>
    public void Rebind(int port = 0, IPEndPoint? via = null)
    {
        var server = via ?? Server;
        RequireLoopback(server, nameof(via));

        var loopback = server.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Loopback : IPAddress.Loopback;
        var fresh = new Socket(server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        fresh.Bind(new IPEndPoint(loopback, port));
        fresh.Connect(server);
        Server = server;
        var old = _serverSide;
        _serverSide = fresh;
        ServerSidePort = ((IPEndPoint)fresh.LocalEndPoint!).Port;
        lock (_loops)
        {
            _loops.Add(Task.Run(() => ReceiveFromServerLoopAsync(fresh)));
        }

        old.Dispose();
    }

    private static void RequireLoopback(IPEndPoint server, string parameter)
    {
        if (!IPAddress.IsLoopback(server.Address))
        {
            throw new ArgumentException($"The proxy relays on loopback only, not to {server}.", parameter);
        }
    }

    /// <summary>The client endpoint that last sent a datagram; null before the first.</summary>
    public IPEndPoint? Client
    {
        get
        {
            lock (_clientLock)
            {
                return _client;
            }
        }
    }

    /// <summary>Where the server is reached (it changes with <see cref="Rebind"/>'s <c>via</c>).</summary>
    public IPEndPoint Server { get; private set; }

    public int Seed { get; }

    public DirectionState ClientToServer { get; }

    public DirectionState ServerToClient { get; }

    /// <summary>Sets the impairment of both directions.</summary>
    public void Impair(Impairment both) => Impair(both, both);

    public void Impair(Impairment clientToServer, Impairment serverToClient)
    {
        ClientToServer.Impairment = clientToServer;
        ServerToClient.Impairment = serverToClient;
    }

    public override string ToString() => $"proxy {EndPoint} → {Server} (seed {Seed}): {ClientToServer}; {ServerToClient}";

    /// <summary>Waits (bounded) until nothing is delayed or held in either direction.</summary>
    public async Task DrainAsync(int timeoutMillis = 5_000)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMillis);
        while (ClientToServer.Pending > 0 || ServerToClient.Pending > 0)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The proxy did not drain within {timeoutMillis} ms: {this}");
            }

            await Task.Delay(10);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _clientSide.Dispose();
        _serverSide.Dispose();
        ClientToServer.Wake();
        ServerToClient.Wake();
        try
        {
            Task[] loops;
            lock (_loops)
            {
                loops = [.. _loops];
            }

            await Task.WhenAll(loops).WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // The loops end on cancellation or on their disposed socket; nothing else to report.
        }

        _stop.Dispose();
        ClientToServer.Dispose();
        ServerToClient.Dispose();
    }

    private async Task ReceiveFromClientLoopAsync()
    {
        var buffer = new byte[ReceiveBufferSize];
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
                continue; // ICMP from an earlier send to a client that is gone.
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            lock (_clientLock)
            {
                _client = (IPEndPoint)received.RemoteEndPoint;
            }

            ClientToServer.OnArrived(buffer.AsSpan(0, received.ReceivedBytes));
        }
    }

    private async Task ReceiveFromServerLoopAsync(Socket serverSide)
    {
        var buffer = new byte[ReceiveBufferSize];
        while (!_stop.IsCancellationRequested)
        {
            int length;
            try
            {
                length = await serverSide.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionRefused or SocketError.ConnectionReset)
            {
                continue; // ICMP port unreachable: the server is gone or not yet there.
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            ServerToClient.OnArrived(buffer.AsSpan(0, length));
        }
    }

    private async ValueTask SendToServerAsync(byte[] datagram)
    {
        try
        {
            await _serverSide.SendAsync(datagram, SocketFlags.None, _stop.Token);
        }
        catch (SocketException)
        {
            // UDP: a send that fails (ICMP from an earlier one) is a lost datagram.
        }
    }

    private async ValueTask SendToClientAsync(byte[] datagram)
    {
        IPEndPoint? client;
        lock (_clientLock)
        {
            client = _client;
        }

        if (client is null)
        {
            return;
        }

        try
        {
            await _clientSide.SendToAsync(datagram, SocketFlags.None, client, _stop.Token);
        }
        catch (SocketException)
        {
        }
    }

    private async Task SendLoopAsync(DirectionState direction, Func<byte[], ValueTask> send)
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                int waitMillis;
                while (direction.TryTakeDue(out var datagram, out waitMillis))
                {
                    await send(datagram!);
                    direction.OnForwarded();
                }

                await direction.WaitAsync(waitMillis, _stop.Token);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    /// <summary>One direction: its impairment, its decisions, its queue of datagrams to send, and its counts.</summary>
    internal sealed class DirectionState(string name, int seed) : IDisposable
    {
        private readonly Random _random = new(seed);
        private readonly Lock _lock = new();
        private readonly PriorityQueue<byte[], (long Due, long Order)> _queue = new();
        private readonly SemaphoreSlim _signal = new(0, int.MaxValue);
        private volatile Impairment _impairment = Impairment.None;
        private byte[]? _held;
        private long _heldUntil;
        private long _order;
        private long _arrived;
        private long _forwarded;
        private long _dropped;
        private long _droppedOversize;
        private long _duplicated;
        private long _reordered;
        private long _delayed;
        private int _largest;
        private readonly List<byte[]> _arrivals = [];
        private readonly List<string> _trace = [];
        private readonly long _created = Environment.TickCount64;

        public Impairment Impairment
        {
            get => _impairment;
            set => _impairment = value;
        }

        public string Name { get; } = name;

        /// <summary>Datagrams that reached the proxy in this direction.</summary>
        public long Arrived => Interlocked.Read(ref _arrived);

        /// <summary>Datagrams sent on (duplicates included).</summary>
        public long Forwarded => Interlocked.Read(ref _forwarded);

        /// <summary>Datagrams dropped as loss.</summary>
        public long Dropped => Interlocked.Read(ref _dropped);

        /// <summary>Datagrams dropped for being larger than <see cref="Impairment.MaxDatagramSize"/>.</summary>
        public long DroppedOversize => Interlocked.Read(ref _droppedOversize);

        public long Duplicated => Interlocked.Read(ref _duplicated);

        public long Reordered => Interlocked.Read(ref _reordered);

        public long Delayed => Interlocked.Read(ref _delayed);

        /// <summary>The largest datagram that reached the proxy in this direction (before any impairment).</summary>
        public int LargestDatagram => Volatile.Read(ref _largest);

        /// <summary>Datagrams waiting to be sent (delayed or held).</summary>
        public int Pending
        {
            get
            {
                lock (_lock)
                {
                    return _queue.Count + (_held is null ? 0 : 1);
                }
            }
        }

        public override string ToString() =>
            $"{Name}: {Arrived} arrived, {Forwarded} forwarded, {Dropped} dropped, {DroppedOversize} oversize, " +
            $"{Duplicated} duplicated, {Reordered} reordered, {Delayed} delayed, largest {LargestDatagram} bytes";

        /// <summary>The first 500 datagrams as they arrived (before any impairment), for tests that look at the wire.</summary>
        public IReadOnlyList<byte[]> Datagrams
        {
            get
            {
                lock (_lock)
                {
                    return _arrivals.ToArray();
                }
            }
        }

        /// <summary>The fate of the first 500 datagrams, one line each (DTLS record headers decoded), for diagnosis.</summary>
        public IReadOnlyList<string> Trace
        {
            get
            {
                lock (_lock)
                {
                    return _trace.ToArray();
                }
            }
        }

        private void Note(long number, ReadOnlySpan<byte> datagram, string fate)
        {
            if (_trace.Count < 500)
            {
                _trace.Add($"{Environment.TickCount64 - _created:D6} ms {Name} #{number} {Describe(datagram)}: {fate}");
            }
        }

        /// <summary>The records of a DTLS datagram: content type, epoch, sequence number (and handshake type when in clear).</summary>
        private static string Describe(ReadOnlySpan<byte> datagram)
        {
            var parts = new List<string>();
            int offset = 0;
            while (offset + 13 <= datagram.Length && parts.Count < 8)
            {
                byte type = datagram[offset];
                int epoch = (datagram[offset + 3] << 8) | datagram[offset + 4];
                long sequence = 0;
                for (int i = 5; i < 11; i++)
                {
                    sequence = (sequence << 8) | datagram[offset + i];
                }

                int length = (datagram[offset + 11] << 8) | datagram[offset + 12];
                string what = type switch { 20 => "CCS", 21 => "alert", 22 => "hs", 23 => "app", _ => $"type{type}" };
                if (type == 22 && epoch == 0 && offset + 13 < datagram.Length)
                {
                    what += $"({datagram[offset + 13]})";
                }

                parts.Add($"{what} e{epoch} s{sequence} len{length}");
                offset += 13 + length;
            }

            return $"{datagram.Length}B [{string.Join(", ", parts)}]";
        }

        public void OnArrived(ReadOnlySpan<byte> datagram)
        {
            long number = Interlocked.Increment(ref _arrived);
            if (datagram.Length > _largest)
            {
                Volatile.Write(ref _largest, datagram.Length);
            }

            var impairment = _impairment;
            var copy = datagram.ToArray();
            long now = Environment.TickCount64;
            lock (_lock)
            {
                if (_arrivals.Count < 500)
                {
                    _arrivals.Add(copy);
                }

                // Always the same four draws, so that the n-th datagram gets the same decisions whatever the settings.
                double drop = _random.NextDouble();
                double duplicate = _random.NextDouble();
                double reorder = _random.NextDouble();
                double delay = _random.NextDouble();
                bool impaired = number > impairment.PassFirst;

                if (impairment.MaxDatagramSize is { } limit && copy.Length > limit)
                {
                    _droppedOversize++;
                    Note(number, copy, "dropped (oversize)");
                    return;
                }

                if ((impaired && drop < impairment.Drop) || impairment.DropNumbers.Contains(number))
                {
                    _dropped++;
                    Note(number, copy, "dropped");
                    return;
                }

                long due = now;
                if (impaired && (impairment.DelayMillis > 0 || impairment.MaxJitterMillis > 0))
                {
                    int delayMillis = impairment.DelayMillis + (int)(delay * (impairment.MaxJitterMillis + 1));
                    if (delayMillis > 0)
                    {
                        _delayed++;
                        due += delayMillis;
                    }
                }

                int copies = impaired && duplicate < impairment.Duplicate ? 2 : 1;
                if (copies == 2)
                {
                    _duplicated++;
                }

                if (impaired && reorder < impairment.Reorder && _held is null)
                {
                    // Held until the next datagram of this direction goes (or the hold times out).
                    _reordered++;
                    Note(number, copy, $"held, delay {due - now} ms{(copies == 2 ? ", duplicated" : "")}");
                    _held = copy;
                    _heldUntil = Math.Max(due, now + impairment.MaxHoldMillis);
                    if (copies == 2)
                    {
                        _queue.Enqueue(copy, (due, _order++));
                    }
                }
                else
                {
                    Note(number, copy, $"forwarded, delay {due - now} ms{(copies == 2 ? ", duplicated" : "")}{(_held is null ? "" : ", releasing the held one")}");
                    for (int i = 0; i < copies; i++)
                    {
                        _queue.Enqueue(copy, (due, _order++));
                    }

                    if (_held is { } held)
                    {
                        _held = null;
                        _queue.Enqueue(held, (due, _order++));
                    }
                }
            }

            _signal.Release();
        }

        /// <summary>The next datagram due now, else how long to wait for the next one (-1: nothing queued).</summary>
        public bool TryTakeDue(out byte[]? datagram, out int waitMillis)
        {
            long now = Environment.TickCount64;
            lock (_lock)
            {
                if (_held is { } held && _heldUntil <= now)
                {
                    _held = null;
                    _queue.Enqueue(held, (_heldUntil, _order++));
                }

                long next = long.MaxValue;
                if (_queue.TryPeek(out _, out var priority))
                {
                    if (priority.Due <= now)
                    {
                        datagram = _queue.Dequeue();
                        waitMillis = 0;
                        return true;
                    }

                    next = priority.Due;
                }

                if (_held is not null)
                {
                    next = Math.Min(next, _heldUntil);
                }

                datagram = null;
                waitMillis = next == long.MaxValue ? -1 : (int)Math.Clamp(next - now, 1, 1_000);
                return false;
            }
        }

        public void OnForwarded() => Interlocked.Increment(ref _forwarded);

        public async Task WaitAsync(int waitMillis, CancellationToken cancellationToken) =>
            await _signal.WaitAsync(waitMillis == -1 ? 1_000 : waitMillis, cancellationToken);

        public void Wake()
        {
            try
            {
                _signal.Release();
            }
            catch (ObjectDisposedException)
            {
            }
        }

        public void Dispose() => _signal.Dispose();
    }
}
