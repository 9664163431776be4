using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>DTLS beside HTTP in one Kestrel host, however the host is built.</summary>
public sealed class KestrelIntegrationTests(ITestOutputHelper output)
{
    private readonly ConnectionObserver _observer = new();

    [Fact]
    public async Task Http_over_tcp_and_dtls_over_udp_share_one_host()
    {
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output,
            configureServices: s => s.AddSingleton(_observer),
            configureKestrel: k => k.Listen(IPAddress.Loopback, 0),
            configureApp: app => app.MapGet("/", () => "hello over http"));

        using var client = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint);
        client.Send("hello over dtls");
        Assert.Equal("hello over dtls", client.ReceiveText());

        var addresses = host.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        output.WriteLine(string.Join(", ", addresses));
        Assert.Contains(addresses, a => a.Contains($"dtls:127.0.0.1:{host.DtlsEndPoint.Port}", StringComparison.Ordinal));
        var http = addresses.Single(a => !a.Contains("dtls:", StringComparison.Ordinal));
        using var httpClient = new HttpClient();
        Assert.Equal("hello over http", await httpClient.GetStringAsync(http));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task UseDtls_works_before_or_after_UseKestrel(bool dtlsFirst)
    {
        var dtlsListen = new List<ListenOptions>();
        var logs = new XunitLoggerProvider(output);
        using var host = new HostBuilder()
            .ConfigureLogging(l => l.AddProvider(logs).SetMinimumLevel(LogLevel.Debug))
            .ConfigureServices(s => s.AddSingleton(_observer))
            .ConfigureWebHost(web =>
            {
                if (dtlsFirst)
                {
                    web.UseDtls(o => o.ServerCertificate = TestCertificates.EcdsaServer());
                }

                web.UseKestrel(k =>
                {
                    k.Listen(IPAddress.Loopback, 0);
                    k.Listen(new DtlsEndPoint(IPAddress.Loopback, 0), l =>
                    {
                        dtlsListen.Add(l);
                        l.UseConnectionHandler<EchoConnectionHandler>();
                    });
                });

                if (!dtlsFirst)
                {
                    web.UseDtls(o => o.ServerCertificate = TestCertificates.EcdsaServer());
                }

                web.Configure(app => app.Run(context => context.Response.WriteAsync("http ok")));
            })
            .Build();
        await host.StartAsync();
        try
        {
            var dtls = ((DtlsEndPoint)dtlsListen[0].EndPoint).IPEndPoint;
            using var client = await TestDtlsClient.ConnectAsync(dtls);
            client.Send("dtls ok");
            Assert.Equal("dtls ok", client.ReceiveText());

            var http = host.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses
                .Single(a => !a.Contains("dtls:", StringComparison.Ordinal));
            using var httpClient = new HttpClient();
            Assert.Equal("http ok", await httpClient.GetStringAsync(http));
        }
        finally
        {
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task Graceful_shutdown_sends_close_notify_to_live_connections()
    {
        var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, configureServices: s => s.AddSingleton(_observer));
        using var client = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint);
        client.Send("before shutdown");
        Assert.Equal("before shutdown", client.ReceiveText());
        var observed = await _observer.NextAsync();

        await host.DisposeAsync();
        Assert.True(observed.CloseRequested);
        Assert.Null(client.Receive(timeoutMillis: 5_000));
        Assert.True(client.PeerSentCloseNotify);
    }
}
