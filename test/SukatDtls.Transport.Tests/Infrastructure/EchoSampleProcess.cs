using System.Net;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>
/// The echo sample (samples/EchoServer) as a separate process: <c>dotnet EchoServer.dll --port 0</c>, ready once it
/// printed <c>Hosting at: ADDRESS:PORT</c>. Disposing kills it.
/// </summary>
internal sealed class EchoSampleProcess : IAsyncDisposable
{
    private const string ReadyPrefix = "Hosting at: ";

    private EchoSampleProcess(ExternalProcess process, IPEndPoint endPoint)
    {
        Process = process;
        EndPoint = endPoint;
    }

    public ExternalProcess Process { get; }

    /// <summary>The bound endpoint the sample printed (dual-stack <c>[::]</c>).</summary>
    public IPEndPoint EndPoint { get; }

    public int Port => EndPoint.Port;

    /// <summary>The status page's base address (the sample prints it after the DTLS endpoint).</summary>
    public Uri? StatusPage { get; private set; }

    /// <summary>Starts the sample with <c>--port 0 --status-port 0</c> plus <paramref name="extraEnvironment"/>.</summary>
    public static async Task<EchoSampleProcess> StartAsync(ITestOutputHelper? output, TimeSpan? readyTimeout = null,
        IReadOnlyDictionary<string, string?>? extraEnvironment = null)
    {
        var process = Launch(output, extraEnvironment);
        try
        {
            string ready = await process.ReadLineAsync(readyTimeout ?? TimeSpan.FromSeconds(30),
                line => line.StartsWith(ReadyPrefix, StringComparison.Ordinal), $"'{ReadyPrefix}ADDRESS:PORT'");
            string address = ready[ReadyPrefix.Length..].Trim();
            if (!IPEndPoint.TryParse(address, out var endPoint) || endPoint.Port == 0)
            {
                throw new InvalidOperationException($"The echo sample printed '{ready}', which has no bound port.");
            }

            string status = await process.ReadLineAsync(readyTimeout ?? TimeSpan.FromSeconds(30),
                line => line.StartsWith("Status page at: ", StringComparison.Ordinal), "'Status page at: URL'");
            return new EchoSampleProcess(process, endPoint) { StatusPage = new Uri(status["Status page at: ".Length..].Trim()) };
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts the sample process (not waiting for it): <c>--port 0 --status-port 0</c>.</summary>
    public static ExternalProcess Launch(ITestOutputHelper? output, IReadOnlyDictionary<string, string?>? extraEnvironment = null) =>
        SamplePrograms.Start("EchoServer", "EchoServer", "echo-server", ["--port", "0", "--status-port", "0"], output, extraEnvironment);

    /// <summary>Lines the sample's console logger wrote at level Error ("fail:") or Critical ("crit:").</summary>
    public IReadOnlyList<string> ErrorLogLines => Process.StandardOutputLines.Concat(Process.StandardErrorLines)
        .Where(line => line.StartsWith("fail:", StringComparison.Ordinal) || line.StartsWith("crit:", StringComparison.Ordinal))
        .ToArray();

    public ValueTask DisposeAsync() => Process.DisposeAsync();
}
