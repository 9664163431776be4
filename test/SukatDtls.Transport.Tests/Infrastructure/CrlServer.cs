using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>
/// A CRL distribution point on loopback: a Kestrel HTTP server on 127.0.0.1 (port 0) that answers every GET with the
/// CRL it was given, as the HTTP URL of a certificate's CRLDistributionPoints extension (RFC 5280 §4.2.1.13) expects.
/// It counts the fetches, so a test can tell that revocation was really looked up.
/// </summary>
internal sealed class CrlServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private byte[] _crl = [];
    private int _fetches;

    private CrlServer(WebApplication app, Uri address)
    {
        _app = app;
        CrlUri = new Uri(address, "ca.crl");
    }

    /// <summary>The URL to put into certificates.</summary>
    public Uri CrlUri { get; }

    /// <summary>The DER CRL served (set it before the first fetch).</summary>
    public byte[] Crl
    {
        get => Volatile.Read(ref _crl);
        set => Volatile.Write(ref _crl, value);
    }

    public int Fetches => Volatile.Read(ref _fetches);

    /// <summary>When true, requests are taken and never answered (a distribution point that hangs).</summary>
    public bool Stall { get; set; }

    public static async Task<CrlServer> StartAsync()
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        CrlServer? server = null;
        app.Run(async context =>
        {
            Interlocked.Increment(ref server!._fetches);
            if (server.Stall)
            {
                // Until the client gives up or the server stops.
                try
                {
                    await Task.Delay(Timeout.Infinite, context.RequestAborted);
                }
                catch (OperationCanceledException)
                {
                }

                return;
            }

            var crl = server.Crl;
            context.Response.ContentType = "application/pkix-crl";
            context.Response.ContentLength = crl.Length;
            await context.Response.Body.WriteAsync(crl);
        });
        await app.StartAsync();
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        server = new CrlServer(app, new Uri(address.EndsWith('/') ? address : address + "/"));
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
