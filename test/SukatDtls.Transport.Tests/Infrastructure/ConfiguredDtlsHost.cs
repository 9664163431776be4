using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>
/// A real Kestrel host on loopback with one DTLS echo endpoint (port 0), whose transport is configured from
/// configuration (<c>UseDtls(section)</c> or <c>UseDtls("Dtls")</c>) rather than by code, unlike <see cref="DtlsTestHost"/>.
/// </summary>
internal sealed class ConfiguredDtlsHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ListenOptions _listen;

    private ConfiguredDtlsHost(WebApplication app, ListenOptions listen, XunitLoggerProvider logs)
    {
        _app = app;
        _listen = listen;
        Logs = logs;
    }

    public XunitLoggerProvider Logs { get; }

    public IServiceProvider Services => _app.Services;

    public IPEndPoint DtlsEndPoint => ((DtlsEndPoint)_listen.EndPoint).IPEndPoint;

    public DtlsTransportFactory Factory =>
        _app.Services.GetServices<IConnectionListenerFactory>().OfType<DtlsTransportFactory>().Single();

    public DtlsConnectionListener Listener => Factory.Listeners[0];

    /// <summary>The options as the application sees them (bound and configured).</summary>
    public DtlsTransportOptions Options => _app.Services.GetRequiredService<IOptions<DtlsTransportOptions>>().Value;

    /// <summary>A "Dtls" section of an in-memory configuration holding <paramref name="settings"/> (keys without "Dtls:").</summary>
    public static IConfigurationSection Section(params (string Key, string? Value)[] settings) =>
        new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>("Dtls:" + s.Key, s.Value)))
            .Build()
            .GetSection("Dtls");

    /// <summary>Starts a host whose transport is bound from <paramref name="dtlsSection"/>.</summary>
    public static Task<ConfiguredDtlsHost> StartAsync(ITestOutputHelper? output, IConfiguration dtlsSection,
        Action<DtlsTransportOptions>? configure = null, ConnectionObserver? observer = null) =>
        StartAsync(output, builder => builder.WebHost.UseDtls(dtlsSection, configure), observer: observer);

    /// <summary>Starts a host; <paramref name="useDtls"/> adds the transport, as an application's Program.cs would.</summary>
    /// <exception cref="Exception">Whatever the start throws (the host is disposed first).</exception>
    public static async Task<ConfiguredDtlsHost> StartAsync(ITestOutputHelper? output, Action<WebApplicationBuilder> useDtls,
        string? contentRoot = null, ConnectionObserver? observer = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Testing", ContentRootPath = contentRoot });
        var logs = new XunitLoggerProvider(output, LogLevel.Debug);
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        builder.Logging.AddProvider(logs);

        // The content root's appsettings.json (the echo sample's, copied into the test output) may filter by level:
        // a rule for our provider comes before those.
        builder.Logging.AddFilter<XunitLoggerProvider>(null, LogLevel.Trace);
        builder.Services.AddSingleton(observer ?? new ConnectionObserver());
        useDtls(builder);

        ListenOptions? dtlsListen = null;
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(new DtlsEndPoint(IPAddress.Loopback, 0), listen =>
        {
            dtlsListen = listen;
            listen.UseConnectionHandler<EchoConnectionHandler>();
        }));

        var app = builder.Build();
        try
        {
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        return new ConfiguredDtlsHost(app, dtlsListen!, logs);
    }

    /// <summary>Waits (bounded) for a log entry with <paramref name="eventId"/>, beyond the first <paramref name="skip"/> of them.</summary>
    public async Task<(string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception)> LogEntryAsync(
        int eventId, int skip = 0, int timeoutMillis = 15_000)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMillis);
        while (true)
        {
            var matching = Logs.Entries.Where(e => e.EventId.Id == eventId).ToArray();
            if (matching.Length > skip)
            {
                return matching[skip];
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"No log entry {eventId} (#{skip + 1}) within {timeoutMillis} ms.");
            }

            await Task.Delay(20);
        }
    }

    public int LogCount(int eventId) => Logs.Entries.Count(e => e.EventId.Id == eventId);

    /// <summary>Stops the host; then fails the test if a handler caught an error that nobody asserted.</summary>
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
