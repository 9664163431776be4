using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using SukatDtls.Samples.EchoServer;
using SukatDtls.Transport;

// DTLS echo server with a status page: `dotnet run --project samples/EchoServer [-- --port N --status-port N]`.
// Defaults (appsettings.json): UDP [::]:5684 (dual-stack) with the development certificate from certs/, and the status
// page on http://127.0.0.1:8080/. Every setting can come from appsettings.json, environment variables or the command line.
EchoServerArguments arguments;
try
{
    arguments = EchoServerArguments.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine($"echo-server: {ex.Message}");
    Console.Error.WriteLine(EchoServerArguments.Usage);
    return 2;
}

if (arguments.ShowHelp)
{
    Console.WriteLine(EchoServerArguments.Usage);
    return 0;
}

// The content root is the program's folder, where appsettings.json and certs/ are, wherever it is started from.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
builder.Configuration.AddInMemoryCollection(arguments.ConfigurationOverrides);
builder.WebHost.UseDtls("Dtls");
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton<DtlsStatus>();

// Sessions on Redis when the connection string 'Redis' is set (ConnectionStrings__Redis=127.0.0.1:6379), so that echo
// servers sharing that Redis (and the SessionStore:EncryptionKey) resume each other's sessions and a restarted server
// resumes its own; else in memory, per process.
string? redis = builder.Configuration.GetConnectionString("Redis");
bool developmentSessionKey = false;
if (!string.IsNullOrWhiteSpace(redis))
{
    var redisOptions = ConfigurationOptions.Parse(redis);
    redisOptions.AbortOnConnectFail = false; // start, and keep trying, while Redis is down: handshakes are full meanwhile
    builder.Services.AddStackExchangeRedisCache(o =>
    {
        o.ConfigurationOptions = redisOptions;
        o.InstanceName = "echo:";
    });
    builder.Services.AddDtlsDistributedSessionCache(builder.Configuration.GetSection("SessionStore"));

    // StackExchange.Redis completes every command on the thread pool. Measured here (docs/benchmarks.md, restart
    // storm, 2 cores): with the pool's default minimum, up to 46 % of the session lookups of a burst of 500
    // resumptions missed the 500 ms timeout and became full handshakes; with a minimum of 64 threads none did (3 runs).
    // A higher minimum for bursts is StackExchange.Redis' own advice.
    ThreadPool.GetMinThreads(out int workers, out int completionPorts);
    ThreadPool.SetMinThreads(Math.Max(workers, 64), Math.Max(completionPorts, 64));
    builder.Services.AddSingleton(new EchoSessionStore($"redis {string.Join(',', redisOptions.EndPoints)}"));
    developmentSessionKey = builder.Configuration["SessionStore:EncryptionKey"] == EchoSessionStore.DevelopmentKey;
}

int dtlsPort = builder.Configuration.GetValue("Echo:DtlsPort", 5684);
int statusPort = builder.Configuration.GetValue("Echo:StatusPort", 8080);
ListenOptions? dtlsListen = null;
ListenOptions? statusListen = null;
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.Listen(new DtlsEndPoint(IPAddress.IPv6Any, dtlsPort), listen =>
    {
        dtlsListen = listen;
        listen.UseConnectionHandler<EchoHandler>();
    });

    // The status page is for the operator on this machine: loopback only.
    kestrel.Listen(IPAddress.Loopback, statusPort, listen => statusListen = listen);
});

WebApplication app;
try
{
    // Configuration is validated as the host is built (the transport reads its options) and started.
    app = builder.Build();
    app.Services.GetRequiredService<DtlsStatus>(); // listening from the first handshake on
    app.MapDtlsStatusPage();
    await app.StartAsync();
}
catch (Exception ex) when (ex is IOException or AddressInUseException or InvalidOperationException or OptionsValidationException)
{
    Console.Error.WriteLine($"echo-server: cannot start: {ex.Message}");
    return 1;
}

if (developmentSessionKey)
{
    Console.Error.WriteLine("echo-server: warning: sessions on Redis are encrypted with the development key of appsettings.json, "
        + "which anyone can read: set SessionStore__EncryptionKey (e.g. from 'openssl rand -hex 32') in production, the same on every server.");
}

// Kestrel replaces the endpoints with the bound ones, so port 0 shows the real port here.
Console.WriteLine($"Hosting at: {((DtlsEndPoint)dtlsListen!.EndPoint).IPEndPoint}");
Console.WriteLine($"Status page at: http://{statusListen!.IPEndPoint}/");
await app.WaitForShutdownAsync();
return 0;
