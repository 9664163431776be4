using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SukatDtls.Transport.Client;
using SukatDtls.Transport.Features;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>The client factory against the server transport, both ours, on loopback.</summary>
public sealed class ClientFactoryTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly ConnectionObserver _observer = new();
    private DtlsTestHost _host = null!;

    public async Task InitializeAsync() =>
        _host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, configureServices: s => s.AddSingleton(_observer));

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private static DtlsConnectionFactory Factory(Action<DtlsClientOptions> configure)
    {
        var options = new DtlsClientOptions();
        configure(options);
        return new DtlsConnectionFactory(Options.Create(options), NullLoggerFactory.Instance);
    }

    private static X509Certificate2Collection DevCa()
    {
        var authorities = new X509Certificate2Collection();
        authorities.ImportFromPemFile(TestCertificates.CaPem);
        return authorities;
    }

    private static async Task<string> EchoOnceAsync(ConnectionContext connection, string text)
    {
        await connection.Transport.Output.WriteAsync(System.Text.Encoding.UTF8.GetBytes(text));
        var result = await connection.Transport.Input.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        var echoed = System.Text.Encoding.UTF8.GetString(System.Buffers.BuffersExtensions.ToArray(result.Buffer));
        connection.Transport.Input.AdvanceTo(result.Buffer.End);
        return echoed;
    }

    [Fact]
    public async Task Connects_with_a_trusted_CA_and_exchanges_data_through_pipes_and_records()
    {
        await using var factory = Factory(o => o.TrustedCertificateAuthorities = DevCa());
        await using var connection = await factory.ConnectAsync(_host.DtlsEndPoint);
        Assert.Equal("through the pipe", await EchoOnceAsync(connection, "through the pipe"));

        var datagrams = connection.Features.Get<IDtlsDatagramFeature>()!;
        await datagrams.SendAsync(new byte[] { 1, 2, 3 });
        var buffer = new byte[datagrams.MaxReceiveRecordSize];
        Assert.Equal(3, await datagrams.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));

        var session = connection.Features.Get<IDtlsSessionFeature>()!;
        Assert.StartsWith("TLS_ECDHE_ECDSA_WITH_", session.CipherSuiteName);
        Assert.Equal("CN=localhost", session.PeerCertificate!.Subject);
        Assert.Equal(_host.DtlsEndPoint, connection.RemoteEndPoint);
    }

    [Fact]
    public async Task A_dns_endpoint_resolves_and_its_name_is_checked_against_the_certificate()
    {
        await using var factory = Factory(o => o.TrustedCertificateAuthorities = DevCa());
        await using var connection = await factory.ConnectAsync(new DnsEndPoint("localhost", _host.DtlsEndPoint.Port, AddressFamily.InterNetwork));
        Assert.Equal("by name", await EchoOnceAsync(connection, "by name"));
    }

    [Fact]
    public async Task An_untrusted_certificate_is_rejected_with_a_clear_error()
    {
        // System trust does not know the development CA.
        await using var factory = Factory(_ => { });
        var ex = await Assert.ThrowsAsync<AuthenticationException>(() => factory.ConnectAsync(_host.DtlsEndPoint).AsTask());
        Assert.Contains("not trusted", ex.Message);
        await Wait.UntilAsync(() => _host.Listener.PeerCount == 0);
        Assert.Equal(0, _host.Listener.Statistics.HandshakesCompleted);
    }

    [Fact]
    public async Task A_certificate_for_another_name_is_rejected()
    {
        await using var factory = Factory(o => { o.TrustedCertificateAuthorities = DevCa(); o.ServerName = "dtls.example.com"; });
        var ex = await Assert.ThrowsAsync<AuthenticationException>(() => factory.ConnectAsync(_host.DtlsEndPoint).AsTask());
        Assert.Contains("not valid for 'dtls.example.com'", ex.Message);
    }

    [Fact]
    public async Task A_pinned_certificate_is_accepted_without_a_trusted_chain_and_another_pin_is_rejected()
    {
        await using (var pinned = Factory(o => o.PinnedServerCertificate = X509CertificateLoader.LoadCertificateFromFile(TestCertificates.ServerPem)))
        {
            await using var connection = await pinned.ConnectAsync(_host.DtlsEndPoint);
            Assert.Equal("pinned", await EchoOnceAsync(connection, "pinned"));
        }

        await using var wrongPin = Factory(o => o.PinnedServerCertificate = X509CertificateLoader.LoadCertificateFromFile(TestCertificates.ServerRsaPem));
        var ex = await Assert.ThrowsAsync<AuthenticationException>(() => wrongPin.ConnectAsync(_host.DtlsEndPoint).AsTask());
        Assert.Contains("pinned", ex.Message);
    }

    [Fact]
    public async Task The_insecure_switch_accepts_an_untrusted_certificate()
    {
        await using var factory = Factory(o => o.DangerousAcceptAnyServerCertificate = true);
        await using var connection = await factory.ConnectAsync(_host.DtlsEndPoint);
        Assert.Equal("insecure", await EchoOnceAsync(connection, "insecure"));
    }

    [Fact]
    public async Task No_answer_is_a_TimeoutException_after_the_handshake_timeout()
    {
        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        silent.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        await using var factory = Factory(o => { o.DangerousAcceptAnyServerCertificate = true; o.HandshakeTimeout = TimeSpan.FromSeconds(1); });
        var ex = await Assert.ThrowsAsync<TimeoutException>(() => factory.ConnectAsync(silent.LocalEndPoint!).AsTask());
        Assert.Contains("did not answer", ex.Message);
    }

    [Fact]
    public async Task Cancellation_ends_a_pending_connect()
    {
        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        silent.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        await using var factory = Factory(o => o.DangerousAcceptAnyServerCertificate = true);
        using var cts = new CancellationTokenSource();
        var connect = factory.ConnectAsync(silent.LocalEndPoint!, cts.Token).AsTask();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => connect.WaitAsync(TimeSpan.FromSeconds(5)));
    }

    [Fact]
    public async Task Disposing_the_client_connection_sends_close_notify_and_the_server_sees_EOF()
    {
        await using var factory = Factory(o => o.TrustedCertificateAuthorities = DevCa());
        var connection = await factory.ConnectAsync(_host.DtlsEndPoint);
        Assert.Equal("last words", await EchoOnceAsync(connection, "last words"));
        var observed = await _observer.NextAsync();

        await connection.DisposeAsync();
        await observed.Ended.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(observed.InputCompletedNormally);
    }

    [Fact]
    public void AddDtlsClient_registers_the_factory_as_IConnectionFactory()
    {
        using var provider = new ServiceCollection().AddLogging().AddDtlsClient(o => o.DangerousAcceptAnyServerCertificate = true).BuildServiceProvider();
        Assert.Same(provider.GetRequiredService<DtlsConnectionFactory>(), provider.GetRequiredService<IConnectionFactory>());
    }

    [Fact]
    public async Task The_clients_idle_timeout_ends_a_connection_that_received_nothing_with_close_notify()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        var options = new DtlsClientOptions { TrustedCertificateAuthorities = DevCa(), ServerName = "localhost", IdleTimeout = TimeSpan.FromSeconds(30) };
        await using var factory = new DtlsConnectionFactory(Options.Create(options), NullLoggerFactory.Instance, time);
        await using var connection = await factory.ConnectAsync(_host.DtlsEndPoint);
        Assert.Equal("ping", await EchoOnceAsync(connection, "ping"));
        var server = await _observer.NextAsync();

        // 29 s after the last record received: still open, proven by an echo (which is activity again).
        time.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal("still here", await EchoOnceAsync(connection, "still here"));
        Assert.False(connection.ConnectionClosed.IsCancellationRequested);

        // 31 s of silence after that echo: the client ends the connection and tells the server (close_notify), so the
        // server's handler sees the end of its input, not an error.
        time.Advance(TimeSpan.FromSeconds(31));
        await Wait.UntilAsync(() => connection.ConnectionClosed.IsCancellationRequested);
        await server.Ended.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(server.InputCompletedNormally, $"the server's connection ended with {server.Error?.GetType().Name}: {server.Error?.Message}");
    }
}
