using System.Net;
using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SukatDtls.Transport.Client;
using SukatDtls.Transport.Features;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>Shared by the lossy-network tests: clients, impairments, numbered records and a handler that holds connections.</summary>
internal static class Lossy
{
    /// <summary>
    /// The largest datagram the transport may send (handshake flights and application records, server and client):
    /// the default of MaxDatagramSize, which these tests leave as it is on both sides.
    /// </summary>
    public const int MaxTransportDatagramSize = SukatDtls.Transport.Internal.DatagramSizes.Default;

    /// <summary>Size of a numbered test record: magic(2) direction(1) reserved(1) index(4) filler(56).</summary>
    public const int RecordSize = 64;

    /// <summary>
    /// Loss, 10% duplication, 10% reordering (a datagram overtaken by the next one) and a little latency, without
    /// jitter: BouncyCastle 2.7 discards a ChangeCipherSpec that arrives before the ClientKeyExchange and epoch-1
    /// records that arrive before the ChangeCipherSpec, so jitter that shuffles whole flights makes every handshake
    /// wait for retransmissions (see <see cref="LossyNetworkHandshakeTests"/>).
    /// </summary>
    public static Impairment Loss(double loss) => new() { Drop = loss, Duplicate = 0.1, Reorder = 0.1, DelayMillis = 2 };

    /// <summary>As <see cref="Loss"/>, with up to 20 ms of jitter: for established connections, where records may come in any order.</summary>
    public static Impairment LossAndJitter(double loss) => Loss(loss) with { MaxJitterMillis = 20 };

    public static DtlsConnectionFactory Factory(TimeSpan handshakeTimeout)
    {
        var authorities = new X509Certificate2Collection();
        authorities.ImportFromPemFile(TestCertificates.CaPem);
        var options = new DtlsClientOptions { TrustedCertificateAuthorities = authorities, HandshakeTimeout = handshakeTimeout };
        return new DtlsConnectionFactory(Options.Create(options), NullLoggerFactory.Instance);
    }

    /// <summary>Record <paramref name="index"/> of <paramref name="direction"/>: recognisable and self-checking.</summary>
    public static byte[] Record(byte direction, int index)
    {
        var record = new byte[RecordSize];
        record[0] = (byte)'S';
        record[1] = (byte)'D';
        record[2] = direction;
        BinaryPrimitives.WriteInt32BigEndian(record.AsSpan(4), index);
        for (int i = 8; i < RecordSize; i++)
        {
            record[i] = (byte)((index * 31) + (i * 7) + direction);
        }

        return record;
    }

    /// <summary>The index of a record made by <see cref="Record"/>; fails the test on any corruption.</summary>
    public static int ParseRecord(ReadOnlySpan<byte> record, byte direction)
    {
        Assert.Equal(RecordSize, record.Length);
        int index = BinaryPrimitives.ReadInt32BigEndian(record[4..]);
        Assert.True(record.SequenceEqual(Record(direction, index)), $"Record (index field {index}) is corrupted: {Convert.ToHexString(record)}");
        return index;
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes from a pipe (bounded).</summary>
    public static async Task<byte[]> ReadExactlyAsync(PipeReader input, int count, int timeoutMillis = 10_000)
    {
        using var timeout = new CancellationTokenSource(timeoutMillis);
        var result = await input.ReadAtLeastAsync(count, timeout.Token);
        var data = result.Buffer.Slice(0, count).ToArray();
        input.AdvanceTo(result.Buffer.GetPosition(count));
        return data;
    }

    public static async Task<string> EchoAsync(ConnectionContext connection, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        await connection.Transport.Output.WriteAsync(bytes);
        return Encoding.UTF8.GetString(await ReadExactlyAsync(connection.Transport.Input, bytes.Length));
    }

    /// <summary>
    /// An echo that survives lost datagrams: sends <paramref name="text"/> and, if no echo came back within
    /// <paramref name="perAttempt"/>, sends it again, <paramref name="attempts"/> sends at most (each a record of its
    /// own: DTLS application data is datagrams, and a lost one is the application's to resend). Returns the echo with
    /// the number of sends, or no echo when none came back within <paramref name="attempts"/> × <paramref name="perAttempt"/>.
    /// </summary>
    /// <remarks>
    /// One read waits for all the sends (a pipe takes one read at a time, and a cancelled one is not resumed): the first
    /// echo to come back completes it, a late one of an earlier send included; a later echo stays in the pipe unread.
    /// </remarks>
    public static async Task<(string? Echoed, int Sends)> EchoResendingAsync(ConnectionContext connection, string text, int attempts, TimeSpan perAttempt)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var read = ReadExactlyAsync(connection.Transport.Input, bytes.Length, (int)(perAttempt * attempts).TotalMilliseconds);
        for (int sends = 1; ; sends++)
        {
            await connection.Transport.Output.WriteAsync(bytes);
            try
            {
                var echoed = sends < attempts ? await read.WaitAsync(perAttempt) : await read;
                return (Encoding.UTF8.GetString(echoed), sends);
            }
            catch (TimeoutException) when (sends < attempts)
            {
                // Not back in time (the send or its echo was lost): send again.
            }
            catch (OperationCanceledException)
            {
                return (null, sends); // the read's own bound, attempts × perAttempt after the first send
            }
        }
    }
}

/// <summary>Hands each connection to the test (through the observer) and holds it until the test sets its Ended.</summary>
internal sealed class HoldConnectionHandler(ConnectionObserver observer) : ConnectionHandler
{
    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        var record = observer.OnConnected(connection);
        var closeRequested = connection.Features.Get<IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? default;
        using var either = CancellationTokenSource.CreateLinkedTokenSource(closeRequested, connection.ConnectionClosed);
        try
        {
            await record.Ended.Task.WaitAsync(either.Token);
        }
        catch (OperationCanceledException)
        {
            record.CloseRequested = true;
        }
    }
}

/// <summary>Full handshakes through 10% loss, and a hopeless one ended by the server's handshake timeout.</summary>
public sealed class LossyNetworkHandshakeTests(ITestOutputHelper output)
{
    [Fact]
    public Task Handshakes_complete_through_10_percent_loss_with_duplication_and_reordering_then_data_flows() =>
        LossyHandshakes.RunAsync(output, loss: 0.10, ourSeeds: [101, 104, 107], bouncyCastleSeeds: [1101, 1104, 1110]);

    [Fact]
    public async Task The_handshake_timeout_ends_a_hopeless_handshake_cleanly()
    {
        var observer = new ConnectionObserver();
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output,
            o => o.HandshakeTimeout = TimeSpan.FromSeconds(2), configureServices: s => s.AddSingleton(observer));
        await using var proxy = new ImpairmentProxy(host.DtlsEndPoint, seed: 7);

        // The HelloVerifyRequest passes (so the server starts a handshake), then everything server→client is lost.
        proxy.Impair(Impairment.None, new Impairment { Drop = 1.0, PassFirst = 1 });
        await using var factory = Lossy.Factory(TimeSpan.FromSeconds(5));
        var stopwatch = Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<TimeoutException>(() => factory.ConnectAsync(proxy.EndPoint).AsTask().WaitAsync(TimeSpan.FromSeconds(20)));
        output.WriteLine($"client gave up after {stopwatch.ElapsedMilliseconds} ms: {ex.Message}");
        Assert.InRange(stopwatch.Elapsed, TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(15));

        // The client's retransmitted ClientHellos (valid cookie) may start new handshakes after the first fails; each
        // ends by the 2 s timeout, and once the client is silent the listener holds no peer.
        var statistics = host.Listener.Statistics;
        await Wait.UntilAsync(() => host.Listener.PeerCount == 0
            && statistics.HandshakesFailed == statistics.HandshakesStarted, timeoutMillis: 10_000);
        output.WriteLine(proxy.ToString());
        output.WriteLine($"server: {statistics.HandshakesStarted} started, {statistics.HandshakesFailed} failed, {statistics.HandshakesCompleted} completed");

        Assert.InRange(statistics.HandshakesStarted, 1, 4);
        Assert.Equal(0, statistics.HandshakesCompleted);
        var failures = host.Logs.Entries.Where(e => e.EventId.Id == 5).ToArray();
        Assert.Equal(statistics.HandshakesFailed, failures.Length);
        Assert.All(failures, f => Assert.EndsWith("handshake failed: timed out", f.Message));
        Assert.Empty(observer.All);
        Assert.Equal(1, proxy.ServerToClient.Arrived - proxy.ServerToClient.Dropped);
    }
}

/// <summary>Full handshakes through 30% loss (its own class, so that it runs beside the others).</summary>
public sealed class LossyNetworkHeavyLossTests(ITestOutputHelper output)
{
    [Fact]
    public Task Handshakes_complete_through_30_percent_loss_with_duplication_and_reordering_then_data_flows() =>
        LossyHandshakes.RunAsync(output, loss: 0.30, ourSeeds: [304, 305], bouncyCastleSeeds: [1303, 1305]);
}

internal static class LossyHandshakes
{
    /// <summary>
    /// One handshake per seed, with our client (DtlsConnectionFactory) or a plain BouncyCastle client, each through
    /// its own proxy, all at once; then the impairment is lifted and an echo must come back.
    /// </summary>
    /// <remarks>
    /// The seeds are fixed (the decisions they make are the same in every run), and chosen among seeds that complete
    /// well within the 25 s client timeout: at 30% loss about one handshake in four needs longer than that, because
    /// BouncyCastle doubles its retransmission timeout (1, 2, 4, 8, 16 s) and needs a flight's records in order.
    /// </remarks>
    public static async Task RunAsync(ITestOutputHelper output, double loss, int[] ourSeeds, int[] bouncyCastleSeeds)
    {
        var observer = new ConnectionObserver();
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output,
            o => o.HandshakeTimeout = TimeSpan.FromSeconds(30), configureServices: s => s.AddSingleton(observer));
        await using var factory = Lossy.Factory(TimeSpan.FromSeconds(25));
        var proxies = new List<ImpairmentProxy>();
        try
        {
            var runs = new List<Task<string>>();
            foreach (int seed in ourSeeds)
            {
                var ours = new ImpairmentProxy(host.DtlsEndPoint, seed);
                proxies.Add(ours);
                ours.Impair(Lossy.Loss(loss));
                runs.Add(OursAsync(factory, ours));
            }

            foreach (int seed in bouncyCastleSeeds)
            {
                var bouncy = new ImpairmentProxy(host.DtlsEndPoint, seed);
                proxies.Add(bouncy);
                bouncy.Impair(Lossy.Loss(loss));
                runs.Add(BouncyCastleAsync(bouncy));
            }

            var all = Task.WhenAll(runs);
            try
            {
                await all.WaitAsync(TimeSpan.FromSeconds(40));
            }
            finally
            {
                foreach (var run in runs)
                {
                    output.WriteLine(run.IsCompletedSuccessfully ? run.Result : $"FAILED or unfinished: {run.Exception?.InnerException?.Message}");
                }

                foreach (var proxy in proxies)
                {
                    output.WriteLine(proxy.ToString());
                }

                for (int i = 0; i < runs.Count; i++)
                {
                    if (!runs[i].IsCompletedSuccessfully)
                    {
                        output.WriteLine($"Trace of seed {proxies[i].Seed}:");
                        foreach (var line in proxies[i].ClientToServer.Trace.Concat(proxies[i].ServerToClient.Trace).OrderBy(l => l, StringComparer.Ordinal))
                        {
                            output.WriteLine(line);
                        }
                    }
                }
            }

            Assert.Equal(runs.Count, host.Listener.Statistics.HandshakesCompleted);
            Assert.True(proxies.Sum(p => p.ClientToServer.Dropped + p.ServerToClient.Dropped) > 0, "The proxies dropped nothing.");
            Assert.True(proxies.Sum(p => p.ClientToServer.Duplicated + p.ServerToClient.Duplicated) > 0, "The proxies duplicated nothing.");
            Assert.True(proxies.Sum(p => p.ClientToServer.Reordered + p.ServerToClient.Reordered) > 0, "The proxies reordered nothing.");
        }
        finally
        {
            foreach (var proxy in proxies)
            {
                await proxy.DisposeAsync();
            }
        }
    }

    private static async Task<string> OursAsync(DtlsConnectionFactory factory, ImpairmentProxy proxy)
    {
        var stopwatch = Stopwatch.StartNew();
        await using var connection = await factory.ConnectAsync(proxy.EndPoint);
        var handshake = stopwatch.Elapsed;
        proxy.Impair(Impairment.None);
        await proxy.DrainAsync();
        string text = $"ours through seed {proxy.Seed}";
        Assert.Equal(text, await Lossy.EchoAsync(connection, text));
        return $"seed {proxy.Seed} (DtlsConnectionFactory): handshake {handshake.TotalMilliseconds:F0} ms";
    }

    private static async Task<string> BouncyCastleAsync(ImpairmentProxy proxy)
    {
        var stopwatch = Stopwatch.StartNew();
        using var client = await TestDtlsClient.ConnectAsync(proxy.EndPoint, handshakeTimeoutMillis: 25_000);
        var handshake = stopwatch.Elapsed;
        proxy.Impair(Impairment.None);
        await proxy.DrainAsync();
        string text = $"BouncyCastle through seed {proxy.Seed}";
        string? echoed = await Task.Factory.StartNew(() =>
        {
            client.Send(text);
            return client.ReceiveText(10_000);
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        Assert.Equal(text, echoed);
        return $"seed {proxy.Seed} (TestDtlsClient): handshake {handshake.TotalMilliseconds:F0} ms";
    }
}

/// <summary>Established connections under loss: the datagram view, the pipes, and the size of what the transport sends.</summary>
public sealed class LossyNetworkTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Count = 200;
    private const byte ClientToServer = 1;
    private const byte ServerToClient = 2;
    private const int EndIndex = -1;

    private readonly ConnectionObserver _observer = new();
    private DtlsTestHost _host = null!;

    public async Task InitializeAsync() =>
        _host = await DtlsTestHost.StartAsync<HoldConnectionHandler>(output, configureServices: s => s.AddSingleton(_observer));

    public async Task DisposeAsync()
    {
        foreach (var observed in _observer.All)
        {
            observed.Ended.TrySetResult();
        }

        await _host.DisposeAsync();
    }

    [Fact]
    public async Task Datagram_view_under_loss_delivers_intact_records_each_at_most_once()
    {
        await using var proxy = new ImpairmentProxy(_host.DtlsEndPoint, seed: 2024);
        await using var factory = Lossy.Factory(TimeSpan.FromSeconds(10));
        await using var client = await factory.ConnectAsync(proxy.EndPoint);
        var server = await _observer.NextAsync();
        var clientView = client.Features.Get<IDtlsDatagramFeature>()!;
        var serverView = server.Connection.Features.Get<IDtlsDatagramFeature>()!;

        // client → server
        proxy.Impair(Lossy.LossAndJitter(0.2));
        var (received, kernelDrops) = await WithKernelDropsAsync(_host.DtlsEndPoint.Port,
            () => SendThroughLossAsync(proxy, clientView, serverView, ClientToServer));
        output.WriteLine($"client→server: {received.Count} of {Count} records; {proxy.ClientToServer}; kernel dropped {kernelDrops}");
        AssertPlausible(received, proxy.ClientToServer, kernelDrops);

        // server → client
        proxy.Impair(Lossy.LossAndJitter(0.2));
        (received, kernelDrops) = await WithKernelDropsAsync(((IPEndPoint)client.LocalEndPoint!).Port,
            () => SendThroughLossAsync(proxy, serverView, clientView, ServerToClient));
        output.WriteLine($"server→client: {received.Count} of {Count} records; {proxy.ServerToClient}; kernel dropped {kernelDrops}");
        AssertPlausible(received, proxy.ServerToClient, kernelDrops);
        server.Ended.TrySetResult();
    }

    [Fact]
    public async Task Pipes_under_loss_carry_whole_records_that_arrived_each_at_most_once()
    {
        // client → server pipe: a plain BouncyCastle client sends one record per Send.
        await using (var proxy = new ImpairmentProxy(_host.DtlsEndPoint, seed: 4242))
        {
            using var client = await TestDtlsClient.ConnectAsync(proxy.EndPoint);
            var server = await _observer.NextAsync();
            proxy.Impair(Lossy.LossAndJitter(0.2));
            long arrived = proxy.ClientToServer.Arrived;
            long kernelDrops = UdpDrops.ForPort(_host.DtlsEndPoint.Port);
            await Task.Factory.StartNew(() =>
            {
                for (int i = 0; i < Count; i++)
                {
                    client.Send(Lossy.Record(ClientToServer, i));
                    if (i % 10 == 9)
                    {
                        Thread.Sleep(5);
                    }
                }
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            await EndPhaseAsync(proxy, proxy.ClientToServer, arrived);
            client.Send(Lossy.Record(ClientToServer, EndIndex));

            var received = await ReadRecordsFromPipeAsync(server.Connection.Transport.Input, ClientToServer);
            kernelDrops = UdpDrops.ForPort(_host.DtlsEndPoint.Port) - kernelDrops;
            output.WriteLine($"client→server pipe: {received.Count} of {Count} records; {proxy.ClientToServer}; kernel dropped {kernelDrops}");
            AssertPlausible(received, proxy.ClientToServer, kernelDrops);
            server.Ended.TrySetResult();
        }

        // server → client pipe: our client reads its input pipe; the server sends one record at a time.
        await using (var proxy = new ImpairmentProxy(_host.DtlsEndPoint, seed: 4343))
        {
            await using var factory = Lossy.Factory(TimeSpan.FromSeconds(10));
            await using var client = await factory.ConnectAsync(proxy.EndPoint);
            var server = await _observer.NextAsync();
            var serverView = server.Connection.Features.Get<IDtlsDatagramFeature>()!;
            proxy.Impair(Lossy.LossAndJitter(0.2));
            long arrived = proxy.ServerToClient.Arrived;
            int clientPort = ((IPEndPoint)client.LocalEndPoint!).Port;
            long kernelDrops = UdpDrops.ForPort(clientPort);
            await SendNumberedAsync(serverView, ServerToClient);
            await EndPhaseAsync(proxy, proxy.ServerToClient, arrived);
            await serverView.SendAsync(Lossy.Record(ServerToClient, EndIndex));

            var received = await ReadRecordsFromPipeAsync(client.Transport.Input, ServerToClient);
            kernelDrops = UdpDrops.ForPort(clientPort) - kernelDrops;
            output.WriteLine($"server→client pipe: {received.Count} of {Count} records; {proxy.ServerToClient}; kernel dropped {kernelDrops}");
            AssertPlausible(received, proxy.ServerToClient, kernelDrops);
            server.Ended.TrySetResult();
        }
    }

    [Fact]
    public async Task No_datagram_the_transport_sends_exceeds_the_limit()
    {
        // Our client: its datagrams (client→server) and the server's (server→client).
        await using (var proxy = new ImpairmentProxy(_host.DtlsEndPoint, seed: 1))
        {
            await using var factory = Lossy.Factory(TimeSpan.FromSeconds(10));
            await using var client = await factory.ConnectAsync(proxy.EndPoint);
            var server = await _observer.NextAsync();
            await ExchangeLargeDataAsync(client, server.Connection);
            server.Ended.TrySetResult();

            output.WriteLine(proxy.ToString());
            Assert.InRange(proxy.ClientToServer.LargestDatagram, 1, Lossy.MaxTransportDatagramSize);
            Assert.InRange(proxy.ServerToClient.LargestDatagram, 1, Lossy.MaxTransportDatagramSize);

            // Full records were sent both ways: the limit was approached, not trivially met.
            Assert.True(proxy.ClientToServer.LargestDatagram > Lossy.MaxTransportDatagramSize - 200, proxy.ToString());
            Assert.True(proxy.ServerToClient.LargestDatagram > Lossy.MaxTransportDatagramSize - 200, proxy.ToString());
        }

        // A plain BouncyCastle client: only the server's datagrams count (the client sizes its own).
        await using (var proxy = new ImpairmentProxy(_host.DtlsEndPoint, seed: 2))
        {
            using var client = await TestDtlsClient.ConnectAsync(proxy.EndPoint);
            var server = await _observer.NextAsync();
            var serverOutput = server.Connection.Transport.Output;
            await serverOutput.WriteAsync(new byte[20_000]);
            int total = 0;
            await Task.Factory.StartNew(() =>
            {
                while (total < 20_000 && client.Receive(10_000) is { } record)
                {
                    total += record.Length;
                }
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            Assert.Equal(20_000, total);
            server.Ended.TrySetResult();

            output.WriteLine(proxy.ToString());
            Assert.InRange(proxy.ServerToClient.LargestDatagram, Lossy.MaxTransportDatagramSize - 200, Lossy.MaxTransportDatagramSize);
        }
    }

    private static async Task ExchangeLargeDataAsync(ConnectionContext client, ConnectionContext server)
    {
        var data = new byte[20_000];
        new Random(5).NextBytes(data);

        // Pipes both ways (the output pipe cuts into records of at most MaxRecordSize).
        await client.Transport.Output.WriteAsync(data);
        Assert.Equal(data, await Lossy.ReadExactlyAsync(server.Transport.Input, data.Length));
        await server.Transport.Output.WriteAsync(data);
        Assert.Equal(data, await Lossy.ReadExactlyAsync(client.Transport.Input, data.Length));

        // The largest record of the datagram view, both ways.
        foreach (var (from, to) in new[] { (client, server), (server, client) })
        {
            var sender = from.Features.Get<IDtlsDatagramFeature>()!;
            var receiver = to.Features.Get<IDtlsDatagramFeature>()!;
            await sender.SendAsync(data.AsMemory(0, sender.MaxRecordSize));
            var buffer = new byte[receiver.MaxReceiveRecordSize];
            int length = await receiver.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(sender.MaxRecordSize, length);
        }
    }

    /// <summary>Sends the numbered records through the impaired proxy, then the end record unimpaired; returns what arrived.</summary>
    private static async Task<List<int>> SendThroughLossAsync(ImpairmentProxy proxy, IDtlsDatagramFeature from, IDtlsDatagramFeature to, byte direction)
    {
        var state = direction == ClientToServer ? proxy.ClientToServer : proxy.ServerToClient;
        long arrived = state.Arrived;
        await SendNumberedAsync(from, direction);
        await EndPhaseAsync(proxy, state, arrived);
        await from.SendAsync(Lossy.Record(direction, EndIndex));

        var received = new List<int>();
        var buffer = new byte[to.MaxReceiveRecordSize];
        while (true)
        {
            int length = await to.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            int index = Lossy.ParseRecord(buffer.AsSpan(0, length), direction);
            if (index == EndIndex)
            {
                return received;
            }

            received.Add(index);
        }
    }

    private static async Task SendNumberedAsync(IDtlsDatagramFeature view, byte direction)
    {
        for (int i = 0; i < Count; i++)
        {
            await view.SendAsync(Lossy.Record(direction, i));
            if (i % 10 == 9)
            {
                await Task.Delay(5); // paced a little, as a real sender would be; the loss comes from the proxy
            }
        }
    }

    /// <summary>
    /// Waits until the <see cref="Count"/> numbered datagrams of the impaired phase reached the proxy and the delayed and
    /// held ones left it, then lifts the impairment.
    /// </summary>
    private static async Task EndPhaseAsync(ImpairmentProxy proxy, ImpairmentProxy.DirectionState direction, long arrivedBefore)
    {
        await Wait.UntilAsync(() => direction.Arrived >= arrivedBefore + Count, 15_000);
        await proxy.DrainAsync();
        proxy.Impair(Impairment.None);
        await proxy.DrainAsync();
    }

    /// <summary>Reads the pipe up to the end record; the bytes must be whole, intact records.</summary>
    private static async Task<List<int>> ReadRecordsFromPipeAsync(PipeReader input, byte direction)
    {
        var received = new List<int>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        while (true)
        {
            var result = await input.ReadAtLeastAsync(Lossy.RecordSize, timeout.Token);
            var buffer = result.Buffer;
            long whole = buffer.Length / Lossy.RecordSize * Lossy.RecordSize;
            var records = buffer.Slice(0, whole).ToArray();
            input.AdvanceTo(buffer.GetPosition(whole), buffer.End);
            for (int offset = 0; offset < records.Length; offset += Lossy.RecordSize)
            {
                int index = Lossy.ParseRecord(records.AsSpan(offset, Lossy.RecordSize), direction);
                if (index == EndIndex)
                {
                    Assert.Equal(records.Length, offset + Lossy.RecordSize); // nothing after the end record
                    return received;
                }

                received.Add(index);
            }

            Assert.False(result.IsCompleted, "The pipe completed before the end record.");
        }
    }

    /// <summary>Runs one phase and returns its records with what the kernel dropped meanwhile at the receiving <paramref name="port"/>.</summary>
    private static async Task<(List<int> Received, long KernelDrops)> WithKernelDropsAsync(int port, Func<Task<List<int>>> phase)
    {
        long before = UdpDrops.ForPort(port);
        var received = await phase();
        return (received, UdpDrops.ForPort(port) - before);
    }

    /// <param name="kernelDrops">
    /// What the kernel dropped meanwhile at the receiving port (a full socket buffer when the suite loads both cores):
    /// lost on the way like the proxy's drops, not by the transport.
    /// </param>
    private static void AssertPlausible(List<int> received, ImpairmentProxy.DirectionState direction, long kernelDrops)
    {
        // Every check names what happened: a failure in a loaded CI run must be diagnosable from its message alone.
        string seen = $"{received.Count} received ({string.Join(",", received.Take(10))}…); proxy: {direction}; kernel dropped {kernelDrops}";
        Assert.True(received.Count == received.Distinct().Count(), "a record delivered twice: " + seen); // duplicates notwithstanding
        Assert.True(received.All(index => index is >= 0 and < Count), "an index out of range: " + seen);
        Assert.True(received.Count is >= 1 and <= Count - 1, "nothing, or everything despite the loss: " + seen);
        Assert.True(direction.Dropped > 0 && direction.Duplicated > 0 && direction.Reordered > 0, direction.ToString());

        // Nothing the network delivered is lost by the transport beyond what the proxy dropped: loopback, paced.
        // Up to two more may go: a record the proxy delivers more than 64 records late is outside the replay window and
        // must be dropped (RFC 6347 §4.1.2.6). That happens when the proxy's thread falls behind in a loaded suite and
        // then jitters a backlog (a CI run lost 1 of 149 so, with no kernel drop). A transport that loses records
        // systematically still fails here.
        const int OutsideTheWindow = 2;
        Assert.True(received.Count >= Count - direction.Dropped - kernelDrops - OutsideTheWindow,
            $"{received.Count} arrived, {direction.Dropped} dropped by the proxy, {kernelDrops} by the kernel: {direction}");
    }
}
