using System.Net;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>
/// The CoAP sample (samples/CoapServer) as a separate process: <c>dotnet CoapServer.dll --port 0</c> from its own build
/// folder, ready once it printed <c>Hosting at: ADDRESS:PORT</c>. Disposing kills it.
/// </summary>
internal sealed class CoapSampleProcess : IAsyncDisposable
{
    private const string ReadyPrefix = "Hosting at: ";

    private CoapSampleProcess(ExternalProcess process, int port)
    {
        Process = process;
        Port = port;
    }

    public ExternalProcess Process { get; }

    /// <summary>The bound UDP port (the sample listens dual-stack on [::]).</summary>
    public int Port { get; }

    /// <summary>Starts the sample with <c>--port 0</c> plus <paramref name="environment"/> (e.g. <c>Dtls__PskKeys__device-1</c>).</summary>
    public static async Task<CoapSampleProcess> StartAsync(ITestOutputHelper? output, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var process = SamplePrograms.Start("CoapServer", "CoapServer", "coap-server", ["--port", "0"], output, environment);
        try
        {
            string ready = await process.ReadLineAsync(TimeSpan.FromSeconds(30), line => line.StartsWith(ReadyPrefix, StringComparison.Ordinal),
                $"'{ReadyPrefix}ADDRESS:PORT'");
            return IPEndPoint.TryParse(ready[ReadyPrefix.Length..].Trim(), out var endPoint) && endPoint.Port != 0
                ? new CoapSampleProcess(process, endPoint.Port)
                : throw new InvalidOperationException($"The CoAP sample printed '{ready}', which has no bound port.");
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    /// <summary>Lines the sample's console logger wrote at level Error ("fail:") or Critical ("crit:").</summary>
    public IReadOnlyList<string> ErrorLogLines => Process.StandardOutputLines.Concat(Process.StandardErrorLines)
        .Where(line => line.StartsWith("fail:", StringComparison.Ordinal) || line.StartsWith("crit:", StringComparison.Ordinal))
        .ToArray();

    public ValueTask DisposeAsync() => Process.DisposeAsync();
}
