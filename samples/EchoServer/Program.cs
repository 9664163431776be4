using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using SukatDtls.Samples.EchoServer;
using SukatDtls.Transport;

// DTLS echo server: `dotnet run --project samples/EchoServer [-- --port N] [--cert FILE --key FILE]`.
// Defaults: UDP [::]:5684 (dual-stack) and the development certificate from certs/.
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

X509Certificate2 certificate;
try
{
    certificate = X509Certificate2.CreateFromPemFile(arguments.CertificateFile, arguments.KeyFile);
}
catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
{
    Console.Error.WriteLine($"echo-server: cannot load certificate '{arguments.CertificateFile}' with key '{arguments.KeyFile}': {ex.Message}");
    return 1;
}

var builder = WebApplication.CreateBuilder();
builder.WebHost.UseDtls(options => options.ServerCertificate = certificate);
ListenOptions? dtlsListen = null;
builder.WebHost.ConfigureKestrel(kestrel =>
    kestrel.Listen(new DtlsEndPoint(IPAddress.IPv6Any, arguments.Port), listen =>
    {
        dtlsListen = listen;
        listen.UseConnectionHandler<EchoHandler>();
    }));

var app = builder.Build();
try
{
    await app.StartAsync();
}
catch (Exception ex) when (ex is IOException or AddressInUseException or InvalidOperationException)
{
    Console.Error.WriteLine($"echo-server: cannot start: {ex.Message}");
    return 1;
}

// Kestrel replaces the endpoint with the bound one, so port 0 shows the real port here.
var bound = ((DtlsEndPoint)dtlsListen!.EndPoint).IPEndPoint;
Console.WriteLine($"Hosting at: {bound}");
await app.WaitForShutdownAsync();
return 0;
