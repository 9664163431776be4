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
    public static ExternalProcess Launch(ITestOutputHelper? output, IReadOnlyDictionary<string, string?>? extraEnvironment = null)
    {
        string assembly = LocateEchoServerAssembly();
        var environment = new Dictionary<string, string?>
        {
            // Whatever the test runner's environment says, the sample serves its own endpoints only.
            ["ASPNETCORE_URLS"] = null,
            ["ASPNETCORE_HTTP_PORTS"] = null,
            ["ASPNETCORE_HTTPS_PORTS"] = null,
            ["DOTNET_URLS"] = null,
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["DOTNET_ENVIRONMENT"] = "Production",
            ["DOTNET_NOLOGO"] = "1",
        };
        foreach (var (name, value) in extraEnvironment ?? new Dictionary<string, string?>())
        {
            environment[name] = value;
        }

        return ExternalProcess.Start("echo-server", DotNetHost(), [assembly, "--port", "0", "--status-port", "0"], output,
            workingDirectory: Path.GetDirectoryName(assembly), environment: environment);
    }

    /// <summary>Lines the sample's console logger wrote at level Error ("fail:") or Critical ("crit:").</summary>
    public IReadOnlyList<string> ErrorLogLines => Process.StandardOutputLines.Concat(Process.StandardErrorLines)
        .Where(line => line.StartsWith("fail:", StringComparison.Ordinal) || line.StartsWith("crit:", StringComparison.Ordinal))
        .ToArray();

    public ValueTask DisposeAsync() => Process.DisposeAsync();

    /// <summary>
    /// EchoServer.dll next to the test assembly (the project reference copies it there with its runtimeconfig and
    /// certs/), or else the sample's own build output for the same configuration and framework.
    /// </summary>
    private static string LocateEchoServerAssembly()
    {
        string baseDirectory = AppContext.BaseDirectory;
        if (IsRunnable(baseDirectory))
        {
            return Path.Combine(baseDirectory, "EchoServer.dll");
        }

        // .../test/SukatDtls.Transport.Tests/bin/<configuration>/<tfm>/
        var tfmDirectory = new DirectoryInfo(baseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string tfm = tfmDirectory.Name;
        string configuration = tfmDirectory.Parent?.Name ?? "Debug";
        for (var directory = tfmDirectory; directory is not null; directory = directory.Parent)
        {
            string sample = Path.Combine(directory.FullName, "samples", "EchoServer");
            if (File.Exists(Path.Combine(sample, "EchoServer.csproj")))
            {
                string output = Path.Combine(sample, "bin", configuration, tfm);
                if (IsRunnable(output))
                {
                    return Path.Combine(output, "EchoServer.dll");
                }

                throw new InvalidOperationException(
                    $"EchoServer.dll with its runtimeconfig and certs/ is neither in {baseDirectory} nor in {output}: build samples/EchoServer ({configuration}).");
            }
        }

        throw new InvalidOperationException($"EchoServer.dll is not in {baseDirectory} and no samples/EchoServer was found above it.");
    }

    private static bool IsRunnable(string directory) =>
        File.Exists(Path.Combine(directory, "EchoServer.dll"))
        && File.Exists(Path.Combine(directory, "EchoServer.runtimeconfig.json"))
        && File.Exists(Path.Combine(directory, "certs", "server.pem"))
        && File.Exists(Path.Combine(directory, "certs", "server.key"));

    /// <summary>The dotnet host running the tests (the CLI exports DOTNET_HOST_PATH), else dotnet from PATH.</summary>
    private static string DotNetHost()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } hostPath && File.Exists(hostPath))
        {
            return hostPath;
        }

        if (Environment.ProcessPath is { } processPath
            && Path.GetFileNameWithoutExtension(processPath).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            return processPath;
        }

        return ExternalProcess.FindOnPath("dotnet") ?? "dotnet";
    }
}
