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
    public async Task Our_client_with_500_byte_datagrams_against_openssl_server_with_mtu_500()
    {
        int port = NcDtlsProcess.FreeUdpPort(IPAddress.Loopback);
        await using var server = ExternalProcess.Start("s_server", OpenSslCli.Path,
            ["s_server", "-dtls1_2", "-mtu", "500", "-accept", $"127.0.0.1:{port}", "-cert", TestCertificates.ServerRsaPem, "-key", TestCertificates.ServerRsaKey],
            output);
        await server.ReadLineAsync(Step, line => line == "ACCEPT", "ACCEPT (listening)");

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
