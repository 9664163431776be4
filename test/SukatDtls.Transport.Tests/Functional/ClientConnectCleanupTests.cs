using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SukatDtls.Transport.Client;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>
/// What a connect leaves behind when it is cancelled in each of its phases (resolving the name, between staggered
/// attempts, during a handshake) and when it abandons attempts that lost: nothing. Each scenario runs once to warm up
/// (JIT, pools, handshake threads, the socket engine), then three times measured: the process holds as many file
/// descriptors as before (every attempt's socket is closed), and the factory no handshake place and no connection.
/// Descriptors are process-wide, so these tests run alone, after the parallel ones.
/// </summary>
/// <remarks>Dead addresses are on 127.77.1.0/24, which no other test uses.</remarks>
[Collection(ProcessWideMeasurements.Name)]
public sealed class ClientConnectCleanupTests : IDisposable
{
    private const int MeasuredRuns = 3;
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private readonly ITestOutputHelper _output;
    private readonly ILoggerFactory _loggers;
    private Func<string, AddressFamily, CancellationToken, Task<IPAddress[]>> _resolve = (_, _, _) => Task.FromResult(Array.Empty<IPAddress>());

    public ClientConnectCleanupTests(ITestOutputHelper output)
    {
        _output = output;
        _loggers = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(new XunitLoggerProvider(output, LogLevel.Debug)));
    }

    public void Dispose() => _loggers.Dispose();

    private DtlsConnectionFactory Factory()
    {
        var options = new DtlsClientOptions { DangerousAcceptAnyServerCertificate = true };

        // The test decides per run what a name resolves to.
        return new DtlsConnectionFactory(Options.Create(options), _loggers) { Resolver = (name, family, token) => _resolve(name, family, token) };
    }

    private static int OpenDescriptors() => Directory.GetFiles("/proc/self/fd").Length;

    private async Task AssertLeavesNothingAsync(DtlsConnectionFactory factory, Func<Task> scenario)
    {
        await scenario();
        int before = OpenDescriptors();
        for (int run = 0; run < MeasuredRuns; run++)
        {
            await scenario();
            Assert.Equal(0, factory.HandshakesInProgress);
            Assert.Equal(0, factory.LiveConnections);
        }

        int after = OpenDescriptors();
        _output.WriteLine($"file descriptors: {before} before, {after} after {MeasuredRuns} runs");
        Assert.Equal(before, after);
    }

    /// <summary>A bound socket that never answers (so no ICMP either), on <paramref name="address"/>.</summary>
    private static Socket Silent(string address, int port = 0)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Parse(address), port));
        return socket;
    }

    /// <summary>Waits for the next datagram on a silent socket: the client's ClientHello, so its attempt has started.</summary>
    private static async Task GetsClientHelloAsync(Socket silent)
    {
        using var timeout = new CancellationTokenSource(Bound);
        await silent.ReceiveAsync(new byte[2048], SocketFlags.None, timeout.Token);
    }

    [Fact]
    public async Task Cancelling_while_the_name_is_resolved_ends_with_OperationCanceledException_and_cancels_the_resolver()
    {
        await using var factory = Factory();
        await AssertLeavesNothingAsync(factory, async () =>
        {
            var resolving = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var resolverCancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _resolve = async (_, _, token) =>
            {
                resolving.TrySetResult();
                try
                {
                    await Task.Delay(Timeout.Infinite, token);
                }
                catch (OperationCanceledException) when (token.IsCancellationRequested)
                {
                    resolverCancelled.TrySetResult();
                    throw;
                }

                return [];
            };

            using var cts = new CancellationTokenSource();
            var connect = factory.ConnectAsync(new DnsEndPoint("slow.test", 5684), cts.Token).AsTask();
            await resolving.Task.WaitAsync(Bound);
            await cts.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => connect.WaitAsync(Bound));
            await resolverCancelled.Task.WaitAsync(Bound);
        });
    }

    [Fact]
    public async Task Cancelling_between_staggered_attempts_ends_with_OperationCanceledException_and_closes_every_attempt()
    {
        await using var factory = Factory();
        await AssertLeavesNothingAsync(factory, async () =>
        {
            using var first = Silent("127.77.1.1");
            int port = ((IPEndPoint)first.LocalEndPoint!).Port;
            using var second = Silent("127.77.1.2", port);
            using var third = Silent("127.77.1.3", port);
            _resolve = (_, _, _) => Task.FromResult(new[] { IPAddress.Parse("127.77.1.1"), IPAddress.Parse("127.77.1.2"), IPAddress.Parse("127.77.1.3") });

            using var cts = new CancellationTokenSource();
            var connect = factory.ConnectAsync(new DnsEndPoint("three.test", port), cts.Token).AsTask();

            // Two attempts run and the third waits for its turn.
            await GetsClientHelloAsync(first);
            await GetsClientHelloAsync(second);
            await cts.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => connect.WaitAsync(Bound));
            Assert.Equal(0, factory.HandshakesInProgress);
            Assert.Equal(0, factory.LiveConnections);
        });
    }

    [Fact]
    public async Task Cancelling_during_a_handshake_ends_with_OperationCanceledException_and_closes_its_socket()
    {
        await using var factory = Factory();
        await AssertLeavesNothingAsync(factory, async () =>
        {
            using var silent = Silent("127.77.1.4");
            using var cts = new CancellationTokenSource();
            var connect = factory.ConnectAsync(silent.LocalEndPoint!, cts.Token).AsTask();
            await GetsClientHelloAsync(silent);
            await cts.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => connect.WaitAsync(Bound));
        });
    }

    [Fact]
    public async Task Attempts_abandoned_for_a_faster_address_leave_no_socket_behind()
    {
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(_output, configureServices: s => s.AddSingleton(new ConnectionObserver()));
        var live = host.DtlsEndPoint;
        await using var factory = Factory();
        await AssertLeavesNothingAsync(factory, async () =>
        {
            using var silent = Silent("127.77.1.5", live.Port);
            _resolve = (_, _, _) => Task.FromResult(new[] { IPAddress.Parse("127.77.1.5"), live.Address });
            await using (var connection = await factory.ConnectAsync(new DnsEndPoint("dual.test", live.Port)).AsTask().WaitAsync(Bound))
            {
                Assert.Equal(live, connection.RemoteEndPoint);
            }

            Assert.True(silent.Available > 0, "the first address was not tried");

            // The server's side of the connection goes too (close_notify), so that its socket is not counted.
            await Wait.UntilAsync(() => host.Listener.PeerCount == 0);
        });
    }
}
