using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SukatDtls.Transport;

namespace SukatDtls.Samples.NcDtls;

/// <summary>
/// <c>nc-dtls -l [ADDRESS] [PORT]</c>: a Kestrel host with the DTLS transport and <see cref="NcConnectionHandler"/>
/// (no HTTP endpoint), serving any number of clients until SIGINT/SIGTERM.
/// </summary>
internal static partial class ListenMode
{
    private const int StdinBufferSize = 16 * 1024;

    public static async Task<int> RunAsync(NcDtlsSettings settings, StderrLoggerProvider loggerProvider, StandardOutput stdout, TerminationSignals signals)
    {
        var (certificate, chain) = settings.CertificateFile is null
            ? CertificateFiles.LoadWithKey(NcDtlsSettings.DefaultServerCertificate, NcDtlsSettings.DefaultServerKey)
            : CertificateFiles.LoadWithKey(settings.CertificateFile, settings.KeyFile);
        var address = await ResolveBindAddressAsync(settings.Host, signals.Token).ConfigureAwait(false);

        // The empty builder reads no appsettings.json, environment or command line: whatever directory nc-dtls runs in and
        // whatever ASPNETCORE_URLS says, the host has exactly the one DTLS endpoint below.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        builder.Logging.AddProvider(loggerProvider);
        builder.Services.AddSingleton(stdout);
        builder.Services.AddSingleton<PeerRegistry>();
        builder.Services.AddSingleton<IHostLifetime, SignalsOwnLifetime>();
        builder.Services.Configure<HostOptions>(options => options.ShutdownTimeout = TimeSpan.FromSeconds(5));
        builder.WebHost.UseKestrelCore();
        builder.WebHost.UseDtls(options =>
        {
            options.ServerCertificate = certificate;
            options.ServerCertificateChain = chain.Count > 0 ? chain : null;
            options.HandshakeTimeout = settings.HandshakeTimeout;
        });

        ListenOptions? dtlsListen = null;
        builder.WebHost.ConfigureKestrel(kestrel =>
            kestrel.Listen(new DtlsEndPoint(address, settings.Port), listen =>
            {
                dtlsListen = listen;
                listen.UseConnectionHandler<NcConnectionHandler>();
            }));

        var app = builder.Build();
        await using (app.ConfigureAwait(false))
        {
            var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(StderrLoggerProvider.Category);
            try
            {
                await app.StartAsync(signals.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (signals.IsReceived)
            {
                return signals.ExitCode;
            }
            catch (Exception ex) when (FindInChain<AddressInUseException>(ex) is not null)
            {
                throw new NcDtlsException($"cannot listen on UDP {new IPEndPoint(address, settings.Port)}: the address is already in use.", ex);
            }
            catch (Exception ex) when (FindInChain<SocketException>(ex) is { } socketError)
            {
                throw new NcDtlsException($"cannot listen on UDP {new IPEndPoint(address, settings.Port)}: {socketError.Message}", ex);
            }

            // Kestrel replaced the endpoint with the bound one: port 0 shows the real port here.
            var bound = ((DtlsEndPoint)dtlsListen!.EndPoint).IPEndPoint;
            await stdout.WriteHeaderAsync($"Hosting at: {bound}").ConfigureAwait(false);
            Log.Listening(logger, bound, certificate.Subject);

            var peers = app.Services.GetRequiredService<PeerRegistry>();
            _ = Task.Run(() => BroadcastStandardInputAsync(peers, logger));

            var stop = await Task.WhenAny(signals.Received, stdout.Broken).ConfigureAwait(false);
            int exitCode;
            if (stop == signals.Received)
            {
                Log.Stopping(logger, signals.Name, peers.Count);
                exitCode = signals.ExitCode;
            }
            else
            {
                Log.StandardOutputClosed(logger, peers.Count);
                exitCode = 1;
            }

            // Kestrel asks every handler to end (ConnectionClosedRequested); each then sends close_notify.
            await app.StopAsync().ConfigureAwait(false);
            return exitCode;
        }
    }

    private static async Task<IPAddress> ResolveBindAddressAsync(string? host, CancellationToken cancellationToken)
    {
        if (host is null)
        {
            return Socket.OSSupportsIPv6 ? IPAddress.IPv6Any : IPAddress.Any;
        }

        string literal = host.StartsWith('[') && host.EndsWith(']') ? host[1..^1] : host;
        if (IPAddress.TryParse(literal, out var address))
        {
            return address;
        }

        string name = host.TrimEnd('.');
        if (name.Equals("invalid", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".invalid", StringComparison.OrdinalIgnoreCase))
        {
            throw new NcDtlsException($"cannot resolve the listen address '{host}': names under .invalid never resolve (RFC 6761).");
        }

        try
        {
            var addresses = await Dns.GetHostAddressesAsync(name, cancellationToken).ConfigureAwait(false);
            return addresses.Length > 0 ? addresses[0] : throw new NcDtlsException($"cannot resolve the listen address '{host}': it has no address.");
        }
        catch (Exception ex) when (ex is SocketException or ArgumentException)
        {
            throw new NcDtlsException($"cannot resolve the listen address '{host}': {ex.Message}", ex);
        }
    }

    /// <summary>Standard input, chunk by chunk, to every established client; without clients, it is dropped.</summary>
    private static async Task BroadcastStandardInputAsync(PeerRegistry peers, ILogger logger)
    {
        try
        {
            using var stdin = Console.OpenStandardInput();
            byte[] buffer = new byte[StdinBufferSize];
            int read;
            while ((read = await stdin.ReadAsync(buffer).ConfigureAwait(false)) > 0)
            {
                int sentTo = await peers.BroadcastAsync(buffer.AsMemory(0, read)).ConfigureAwait(false);
                if (sentTo == 0)
                {
                    Log.InputDropped(logger, read);
                }
            }

            Log.EndOfInput(logger);
        }
        catch (IOException ex)
        {
            Log.StandardInputFailed(logger, ex.Message);
        }
    }

    private static T? FindInChain<T>(Exception? exception)
        where T : Exception => exception switch
        {
            null => null,
            T found => found,
            AggregateException aggregate => aggregate.InnerExceptions.Select(FindInChain<T>).FirstOrDefault(found => found is not null),
            _ => FindInChain<T>(exception.InnerException),
        };

    /// <summary>The host's lifetime without console signal handling: <see cref="TerminationSignals"/> owns SIGINT/SIGTERM.</summary>
    private sealed class SignalsOwnLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private static partial class Log
    {
        [LoggerMessage(20, LogLevel.Information, "listening on UDP {EndPoint} with certificate {Subject}")]
        public static partial void Listening(ILogger logger, IPEndPoint endPoint, string subject);

        [LoggerMessage(21, LogLevel.Information, "{Signal}: closing {Count} connection(s) (close_notify) and stopping")]
        public static partial void Stopping(ILogger logger, string signal, int count);

        [LoggerMessage(22, LogLevel.Information, "standard output closed: closing {Count} connection(s) (close_notify) and stopping")]
        public static partial void StandardOutputClosed(ILogger logger, int count);

        [LoggerMessage(23, LogLevel.Information, "no established client: dropped {Length} bytes of standard input")]
        public static partial void InputDropped(ILogger logger, int length);

        [LoggerMessage(24, LogLevel.Debug, "end of standard input: clients keep being served")]
        public static partial void EndOfInput(ILogger logger);

        [LoggerMessage(25, LogLevel.Warning, "reading standard input failed: {Error}")]
        public static partial void StandardInputFailed(ILogger logger, string error);
    }
}
