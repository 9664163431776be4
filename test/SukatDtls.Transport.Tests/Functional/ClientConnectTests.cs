using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;
using SukatDtls.Transport.Client;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>
/// How the client factory connects, on real loopback sockets against our server: a closed port is refused within a
/// second or two (the kernel's ICMP port unreachable), not at the handshake timeout; every address of a name is tried
/// (a test resolver gives a name real addresses, one dead, one live); localhost finds a listener on ::1 or 127.0.0.1.
/// A single ICMP error does not end a handshake, a confirmed one does (forged ICMP: root, as the path-MTU tests).
/// </summary>
/// <remarks>
/// Dead addresses are on 127.77.0.0/16, which no other test uses, so a "closed" port stays closed while tests run in
/// parallel. "Silent" is a bound socket that never answers (no ICMP); "closed" has nothing bound (ICMP).
/// </remarks>
public sealed class ClientConnectTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private readonly ITestOutputHelper _output;
    private readonly FakeLoggerProvider _logs = new();
    private readonly ILoggerFactory _loggers;

    public ClientConnectTests(ITestOutputHelper output)
    {
        _output = output;
        _loggers = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(_logs).AddProvider(new XunitLoggerProvider(output, LogLevel.Debug)));
    }

    public void Dispose()
    {
        _loggers.Dispose();
        _logs.Dispose();
    }

    private DtlsConnectionFactory Factory(Action<DtlsClientOptions>? configure = null,
        Func<string, AddressFamily, CancellationToken, Task<IPAddress[]>>? resolver = null, bool trustDevCa = false)
    {
        var options = new DtlsClientOptions();
        configure?.Invoke(options);
        if (trustDevCa)
        {
            options.TrustedCertificateAuthorities = new X509Certificate2Collection();
            options.TrustedCertificateAuthorities.ImportFromPemFile(TestCertificates.CaPem);
        }
        else
        {
            options.DangerousAcceptAnyServerCertificate = true;
        }

        return resolver is null
            ? new DtlsConnectionFactory(Options.Create(options), _loggers)
            : new DtlsConnectionFactory(Options.Create(options), _loggers) { Resolver = resolver };
    }

    private Task<DtlsTestHost> StartHostAsync(IPAddress address) =>
        DtlsTestHost.StartAsync<EchoConnectionHandler>(_output, dtlsAddresses: [address], configureServices: s => s.AddSingleton(new ConnectionObserver()));

    /// <summary>A port on <paramref name="address"/> with nothing bound to it (bound to port 0, then closed).</summary>
    private static IPEndPoint ClosedPort(IPAddress address, int port = 0)
    {
        using var socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(address, port));
        return (IPEndPoint)socket.LocalEndPoint!;
    }

    /// <summary>The next datagram's sender on <paramref name="socket"/> (bounded).</summary>
    private static async Task<IPEndPoint> ReceiveFromAsync(Socket socket)
    {
        using var timeout = new CancellationTokenSource(Bound);
        var received = await socket.ReceiveFromAsync(new byte[2048], SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), timeout.Token);
        return (IPEndPoint)received.RemoteEndPoint;
    }

    private static async Task EchoAsync(ConnectionContext connection, string text)
    {
        byte[] sent = System.Text.Encoding.UTF8.GetBytes(text);
        await connection.Transport.Output.WriteAsync(sent);
        var result = await connection.Transport.Input.ReadAsync().AsTask().WaitAsync(Bound);
        Assert.Equal(sent, System.Buffers.BuffersExtensions.ToArray(result.Buffer));
        connection.Transport.Input.AdvanceTo(result.Buffer.End);
    }

    private FakeLogRecord[] Logged(string eventName) =>
        _logs.Collector.GetSnapshot().Where(record => record.Id.Name == eventName).ToArray();

    [Fact]
    public async Task A_closed_port_is_refused_within_2_s_as_SocketException_ConnectionRefused_naming_address_and_port()
    {
        // BouncyCastle's own resend comes after 10 s here: only the confirming resend can refuse within 2 s.
        await using var factory = Factory(options => options.HandshakeRetransmissionTimeout = TimeSpan.FromSeconds(10));
        var closed = ClosedPort(IPAddress.Parse("127.77.0.1"));
        var clock = Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<SocketException>(() => factory.ConnectAsync(closed).AsTask().WaitAsync(Bound));
        _output.WriteLine($"{clock.Elapsed.TotalMilliseconds:F0} ms: {ex.Message}");

        Assert.Equal(SocketError.ConnectionRefused, ex.SocketErrorCode);
        Assert.Contains($"Connection refused by {closed}", ex.Message, StringComparison.Ordinal);

        // Not on the first ICMP (the resend after the confirmation delay had to be refused too), and not at the 10 s
        // handshake timeout either; nothing is left of the attempt.
        Assert.InRange(clock.Elapsed, HandshakeTransport.UnreachableConfirmationDelay, TimeSpan.FromSeconds(2));
        Assert.Equal(0, factory.HandshakesInProgress);
        Assert.Equal(0, factory.LiveConnections);
    }

    [Fact]
    public async Task One_port_unreachable_that_races_a_starting_server_does_not_end_the_handshake_it_brings_the_resend_forward()
    {
        // The server "is not there yet" for the first ClientHello: the relay drops it and the test answers with ICMP port
        // unreachable, as the server's host would. BouncyCastle would resend only after 10 s.
        await using var host = await StartHostAsync(IPAddress.Loopback);
        await using var relay = new ImpairmentProxy(host.DtlsEndPoint, seed: 18);
        relay.Impair(new Impairment { DropNumbers = new HashSet<long> { 1 } }, Impairment.None);
        await using var factory = Factory(options => options.HandshakeRetransmissionTimeout = TimeSpan.FromSeconds(10));

        var clock = Stopwatch.StartNew();
        var connect = factory.ConnectAsync(relay.EndPoint).AsTask();
        await Wait.UntilAsync(() => relay.ClientToServer.Arrived >= 1, 10_000);
        ForgedIcmp.SendUnreachable(relay.EndPoint, relay.Client!, ForgedIcmp.PortUnreachable);

        await using var connection = await connect.WaitAsync(Bound);
        _output.WriteLine($"connected in {clock.Elapsed.TotalMilliseconds:F0} ms");
        await EchoAsync(connection, "after one port unreachable");

        // After the confirmation delay, and well before BouncyCastle's own resend: the ICMP brought the resend forward.
        Assert.InRange(clock.Elapsed, HandshakeTransport.UnreachableConfirmationDelay, TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_firewall_that_rejects_twice_is_reported_within_2_s_as_SocketException_HostUnreachable()
    {
        // ICMP "communication administratively prohibited" (a firewall's reject), for the ClientHello and again for the
        // resend that confirms it; the socket reports it as "no route to host".
        using var firewalled = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        firewalled.Bind(new IPEndPoint(IPAddress.Parse("127.77.0.5"), 0));
        var server = (IPEndPoint)firewalled.LocalEndPoint!;
        await using var factory = Factory(options => options.HandshakeRetransmissionTimeout = TimeSpan.FromSeconds(10));

        var clock = Stopwatch.StartNew();
        var connect = factory.ConnectAsync(server).AsTask();
        var client = await ReceiveFromAsync(firewalled);
        ForgedIcmp.SendUnreachable(server, client, ForgedIcmp.CommunicationProhibited);
        Assert.Equal(client, await ReceiveFromAsync(firewalled));
        Assert.True(clock.Elapsed >= HandshakeTransport.UnreachableConfirmationDelay, $"resent after {clock.Elapsed}");
        ForgedIcmp.SendUnreachable(server, client, ForgedIcmp.CommunicationProhibited);

        var ex = await Assert.ThrowsAsync<SocketException>(() => connect.WaitAsync(Bound));
        _output.WriteLine($"{clock.Elapsed.TotalMilliseconds:F0} ms: {ex.Message}");
        Assert.Equal(SocketError.HostUnreachable, ex.SocketErrorCode);
        Assert.StartsWith($"{server} is unreachable", ex.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"reported after {clock.Elapsed}");
    }

    [Fact]
    public async Task Every_address_refusing_is_one_ConnectionRefused_that_names_them_all()
    {
        var first = ClosedPort(IPAddress.Parse("127.77.0.2"));
        var second = ClosedPort(IPAddress.Parse("127.77.0.3"), first.Port);
        await using var factory = Factory(resolver: (_, _, _) => Task.FromResult(new[] { first.Address, second.Address }));

        var ex = await Assert.ThrowsAsync<SocketException>(() => factory.ConnectAsync(new DnsEndPoint("refusing.test", first.Port)).AsTask().WaitAsync(Bound));
        Assert.Equal(SocketError.ConnectionRefused, ex.SocketErrorCode);
        Assert.Contains($"Connection refused by {first}, {second}:", ex.Message, StringComparison.Ordinal);
        Assert.Equal(2, Logged("ConnectAttemptFailed").Length);
    }

    [Fact]
    public async Task A_name_whose_first_address_is_silent_connects_through_the_second_and_abandons_the_first()
    {
        await using var host = await StartHostAsync(IPAddress.Loopback);
        var live = host.DtlsEndPoint;

        // The first address answers nothing (no ICMP either): only the 250 ms delay moves the connect on.
        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        silent.Bind(new IPEndPoint(IPAddress.Parse("127.77.0.4"), live.Port));
        await using var factory = Factory(resolver: (name, _, _) => Task.FromResult(name == "dual.test"
            ? new[] { IPAddress.Parse("127.77.0.4"), live.Address }
            : []));

        var clock = Stopwatch.StartNew();
        await using var connection = await factory.ConnectAsync(new DnsEndPoint("dual.test", live.Port)).AsTask().WaitAsync(Bound);
        _output.WriteLine($"connected in {clock.Elapsed.TotalMilliseconds:F0} ms");
        Assert.Equal(live, connection.RemoteEndPoint);
        await EchoAsync(connection, "through the second address");

        // The first address was tried first, and the second only after the attempt delay.
        Assert.True(silent.Available > 0, "the silent address got no ClientHello");
        Assert.True(clock.Elapsed >= ConnectRace.AttemptDelay, $"connected after {clock.Elapsed}, before the attempt delay");
        Assert.Equal(["127.77.0.4", live.Address.ToString()],
            Logged("ConnectAttemptStarted").Select(r => IPEndPoint.Parse(r.GetStructuredStateValue("RemoteEndPoint")!).Address.ToString()));

        // Abandoned before ConnectAsync returned: its handshake ended, its connection (socket) is gone.
        var abandoned = Assert.Single(Logged("ConnectAttemptAbandoned"));
        Assert.Contains($"127.77.0.4:{live.Port} for dual.test abandoned: {live} completed its handshake first", abandoned.Message, StringComparison.Ordinal);
        Assert.Equal(0, factory.HandshakesInProgress);
        Assert.Equal(1, factory.LiveConnections);
    }

    [Fact]
    public async Task With_one_handshake_place_the_addresses_take_turns_a_refused_one_hands_it_on()
    {
        // The attempt delay passes while the first address holds the only place: the second waits for it, and gets it
        // when the first is refused.
        await using var host = await StartHostAsync(IPAddress.Loopback);
        var live = host.DtlsEndPoint;
        var closed = ClosedPort(IPAddress.Parse("127.77.0.7"), live.Port);
        await using var factory = Factory(options => options.MaxConcurrentHandshakes = 1,
            resolver: (_, _, _) => Task.FromResult(new[] { closed.Address, live.Address }));

        await using var connection = await factory.ConnectAsync(new DnsEndPoint("turns.test", live.Port)).AsTask().WaitAsync(Bound);
        Assert.Equal(live, connection.RemoteEndPoint);
        Assert.Contains("Connection refused", Assert.Single(Logged("ConnectAttemptFailed")).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_address_whose_server_answered_is_given_its_time_no_attempt_starts_beside_it()
    {
        // The first address answers at once (HelloVerifyRequest), then slowly: the server's later datagrams are delayed
        // 300 ms each, so its handshake ends well after the 250 ms attempt delay. The second address is never tried.
        await using var host = await StartHostAsync(IPAddress.Loopback);
        await using var relay = new ImpairmentProxy(host.DtlsEndPoint, seed: 18);
        relay.Impair(Impairment.None, new Impairment { PassFirst = 1, DelayMillis = 300 });
        using var second = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        second.Bind(new IPEndPoint(IPAddress.Parse("127.77.0.6"), relay.EndPoint.Port));
        await using var factory = Factory(resolver: (_, _, _) => Task.FromResult(new[] { relay.EndPoint.Address, IPAddress.Parse("127.77.0.6") }));

        // Warm (both sides compiled), so that the first answer is a matter of microseconds, not of the JIT.
        await (await factory.ConnectAsync(host.DtlsEndPoint).AsTask().WaitAsync(Bound)).DisposeAsync();
        _logs.Collector.Clear();

        var clock = Stopwatch.StartNew();
        await using var connection = await factory.ConnectAsync(new DnsEndPoint("far.test", relay.EndPoint.Port)).AsTask().WaitAsync(Bound);
        _output.WriteLine($"connected in {clock.Elapsed.TotalMilliseconds:F0} ms");
        Assert.Equal(relay.EndPoint, connection.RemoteEndPoint);
        Assert.True(clock.Elapsed > ConnectRace.AttemptDelay, "the handshake ended before the attempt delay: nothing was tested");
        Assert.Single(Logged("ConnectAttemptStarted"));
        Assert.Equal(0, second.Available);
    }

    [Theory]
    [InlineData("::1")]
    [InlineData("127.0.0.1")]
    public async Task Localhost_reaches_a_listener_on_IPv6_or_IPv4_loopback(string listenAddress)
    {
        // The system resolver here maps localhost to 127.0.0.1 only (/etc/hosts): ::1 is found because localhost
        // names are loopback by definition (RFC 6761), for IPv6 and IPv4 alike.
        await using var host = await StartHostAsync(IPAddress.Parse(listenAddress));
        await using var factory = Factory(trustDevCa: true);

        await using var connection = await factory.ConnectAsync(new DnsEndPoint("localhost", host.DtlsEndPoint.Port)).AsTask().WaitAsync(Bound);
        Assert.Equal(host.DtlsEndPoint, connection.RemoteEndPoint);
        await EchoAsync(connection, $"to localhost on {listenAddress}");
    }
}
