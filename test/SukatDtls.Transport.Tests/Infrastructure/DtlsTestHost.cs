using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>A real Kestrel host on loopback with DTLS endpoints (port 0) and, optionally, an HTTP endpoint.</summary>
internal sealed class DtlsTestHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly List<ListenOptions> _dtlsListens;

    private DtlsTestHost(WebApplication app, List<ListenOptions> dtlsListens, XunitLoggerProvider logs)
    {
        _app = app;
        _dtlsListens = dtlsListens;
        Logs = logs;
    }

    public XunitLoggerProvider Logs { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>The bound DTLS endpoints, in the order they were configured (ports resolved).</summary>
    public IReadOnlyList<IPEndPoint> DtlsEndPoints => _dtlsListens.Select(l => ((DtlsEndPoint)l.EndPoint).IPEndPoint).ToArray();

    public IPEndPoint DtlsEndPoint => DtlsEndPoints[0];

    public DtlsTransportFactory Factory =>
        _app.Services.GetServices<IConnectionListenerFactory>().OfType<DtlsTransportFactory>().Single();

    public DtlsConnectionListener Listener => Factory.Listeners[0];

    public static async Task<DtlsTestHost> StartAsync<THandler>(
        ITestOutputHelper? output,
        Action<DtlsTransportOptions>? configureDtls = null,
        IPAddress[]? dtlsAddresses = null,
        Action<IServiceCollection>? configureServices = null,
        Action<KestrelServerOptions>? configureKestrel = null,
        Action<WebApplication>? configureApp = null,
        LogLevel logLevel = LogLevel.Debug)
        where THandler : ConnectionHandler
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Testing" });
        var logs = new XunitLoggerProvider(output, logLevel);
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        builder.Logging.AddProvider(logs);

        // The test output folder holds the echo sample's appsettings.json (its tests run it from there): its
        // Logging levels must not filter what the tests wait for. The provider's own level decides.
        builder.Logging.AddFilter<XunitLoggerProvider>(null, LogLevel.Trace);
        builder.WebHost.UseDtls(options =>
        {
            options.ServerCertificate = TestCertificates.EcdsaServer();
            configureDtls?.Invoke(options);
        });
        configureServices?.Invoke(builder.Services);

        var listens = new List<ListenOptions>();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            foreach (var address in dtlsAddresses ?? [IPAddress.Loopback])
            {
                kestrel.Listen(new DtlsEndPoint(address, 0), listen =>
                {
                    listens.Add(listen);
                    listen.UseConnectionHandler<THandler>();
                });
            }

            configureKestrel?.Invoke(kestrel);
        });

        var app = builder.Build();
        configureApp?.Invoke(app);
        await app.StartAsync();
        return new DtlsTestHost(app, listens, logs);
    }

    /// <summary>Stops the host; then fails the test if a handler of the test caught an error that nobody asserted.</summary>
    public async ValueTask DisposeAsync()
    {
        var observer = _app.Services.GetService<ConnectionObserver>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _app.StopAsync(timeout.Token);
        await _app.DisposeAsync();
        if (observer?.UnexpectedErrors is { Count: > 0 } errors)
        {
            throw new Xunit.Sdk.XunitException($"A connection handler caught {errors.Count} unexpected error(s): " +
                string.Join(" | ", errors.Select(e => e.ToString())));
        }
    }
}
