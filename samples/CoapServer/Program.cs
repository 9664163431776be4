using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using SukatDtls.Samples.CoapServer;
using SukatDtls.Transport;

// CoAP over DTLS (RFC 7252, coaps://): `dotnet run --project samples/CoapServer [-- --port N]`. Defaults
// (appsettings.json): UDP [::]:5684 (dual-stack) with the development certificate from certs/; pre-shared keys and
// device raw public keys from the Dtls section (environment variables: Dtls__PskKeys__IDENTITY, Dtls__ClientRawPublicKeys__0).
CoapServerArguments arguments;
try
{
    arguments = CoapServerArguments.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine($"coap-server: {ex.Message}");
    Console.Error.WriteLine(CoapServerArguments.Usage);
    return 2;
}

if (arguments.ShowHelp)
{
    Console.WriteLine(CoapServerArguments.Usage);
    return 0;
}

// The content root is the program's folder, where appsettings.json and certs/ are, wherever it is started from.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
builder.Configuration.AddInMemoryCollection(arguments.ConfigurationOverrides);
builder.WebHost.UseDtls("Dtls");
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton(services => CoapRouter.Sample(services.GetRequiredService<TimeProvider>()));

int port = builder.Configuration.GetValue("Coap:DtlsPort", 5684);
ListenOptions? coapListen = null;
builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(new DtlsEndPoint(IPAddress.IPv6Any, port), listen =>
{
    coapListen = listen;
    listen.UseConnectionHandler<CoapConnectionHandler>();
}));

WebApplication app;
try
{
    // Configuration is validated as the host is built (the transport reads its options) and started.
    app = builder.Build();
    await app.StartAsync();
}
catch (Exception ex) when (ex is IOException or AddressInUseException or InvalidOperationException or OptionsValidationException)
{
    Console.Error.WriteLine($"coap-server: cannot start: {ex.Message}");
    return 1;
}

// Kestrel replaces the endpoint with the bound one, so port 0 shows the real port here.
Console.WriteLine($"Hosting at: {((DtlsEndPoint)coapListen!.EndPoint).IPEndPoint}");
await app.WaitForShutdownAsync();
return 0;
