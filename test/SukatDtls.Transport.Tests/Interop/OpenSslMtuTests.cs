using System.Net;
using System.Text;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SukatDtls.Transport.Client;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Interop;

/// <summary>Small datagrams against OpenSSL: <c>-mtu 500</c> on its side, <c>MaxDatagramSize</c> 500 on ours.</summary>
public sealed class OpenSslMtuTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Openssl_client_with_mtu_500_against_our_server_with_an_rsa_certificate()
    {
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output,
            o => { o.ServerCertificate = TestCertificates.RsaServer(); o.MaxDatagramSize = 500; },
            configureServices: s => s.AddSingleton(new ConnectionObserver()));
        await using var client = OpenSslCli.StartDtlsClient($"127.0.0.1:{host.DtlsEndPoint.Port}", output, "-mtu", "500");
        string line = new('m', 400);
        await client.WriteLineAsync(line);
        Assert.Equal(line, await client.ReadLineAsync(Step, what: "the echo"));
    }

    [Fact]
    public async Task Max_fragment_length_asked_by_openssl_is_honoured_by_our_server()
    {
        // openssl negotiates 512-byte records (RFC 6066 max_fragment_length) and rejects any bigger record it receives.
        await using var host = await DtlsTestHost.StartAsync<GreetingHandler>(output);
        await using var client = OpenSslCli.StartDtlsClient($"127.0.0.1:{host.DtlsEndPoint.Port}", output, "-maxfraglen", "512");
        Assert.Equal(GreetingHandler.Greeting, await client.ReadLineAsync(Step, what: "the 2,000-byte greeting"));
    }

    /// <summary>Writes 2,000 bytes and a newline as soon as a client connects, then waits for the client to leave.</summary>
    private sealed class GreetingHandler : ConnectionHandler
    {
        public static readonly string Greeting = new('g', 2000);

        public override async Task OnConnectedAsync(ConnectionContext connection)
        {
            var maxRecord = connection.Features.Get<SukatDtls.Transport.Features.IDtlsDatagramFeature>()!.MaxRecordSize;
            if (maxRecord > 512)
            {
                throw new InvalidOperationException($"MaxRecordSize {maxRecord} ignores the negotiated 512-byte fragments.");
            }

            await connection.Transport.Output.WriteAsync(Encoding.ASCII.GetBytes(Greeting + "\n"));

            // Stay until the client leaves or the host stops.
            var closeRequested = connection.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionLifetimeNotificationFeature>()?.ConnectionClosedRequested ?? default;
            using var done = CancellationTokenSource.CreateLinkedTokenSource(closeRequested, connection.ConnectionClosed);
            try
            {
                await Task.Delay(Timeout.Infinite, done.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    [Fact]
    public async Task Our_client_with_500_byte_datagrams_against_openssl_server_with_mtu_500()
    {
        // Port 0: openssl binds a free port itself and names it (a port found free beforehand may be taken meanwhile).
        await using var server = ExternalProcess.Start("s_server", OpenSslCli.Path,
            ["s_server", "-dtls1_2", "-mtu", "500", "-accept", "127.0.0.1:0", "-cert", TestCertificates.ServerRsaPem, "-key", TestCertificates.ServerRsaKey],
            output);
        int port = await OpenSslCli.AcceptPortAsync(server, Step);

        var options = new DtlsClientOptions { MaxDatagramSize = 500 };
        options.TrustedCertificateAuthorities = [];
        options.TrustedCertificateAuthorities.ImportFromPemFile(TestCertificates.CaPem);
        await using var factory = new DtlsConnectionFactory(Options.Create(options), NullLoggerFactory.Instance);
        await using var connection = await factory.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));

        string toServer = new('s', 300);
        await connection.Transport.Output.WriteAsync(Encoding.ASCII.GetBytes(toServer + "\n"));
        await server.ReadLineAsync(Step, line => line == toServer, "our line");

        string toClient = new('c', 300);
        await server.WriteLineAsync(toClient);
        var received = new StringBuilder();
        using var timeout = new CancellationTokenSource(Step);
        while (!received.ToString().Contains('\n', StringComparison.Ordinal))
        {
            var result = await connection.Transport.Input.ReadAsync(timeout.Token);
            foreach (var segment in result.Buffer)
            {
                received.Append(Encoding.ASCII.GetString(segment.Span));
            }

            connection.Transport.Input.AdvanceTo(result.Buffer.End);
        }

        Assert.Equal(toClient + "\n", received.ToString());
    }
}
