namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>Finding and running the repository's sample programs (and other .NET programs) from the tests.</summary>
internal static class SamplePrograms
{
    /// <summary>The dotnet host running the tests (the CLI exports DOTNET_HOST_PATH), else dotnet from PATH.</summary>
    public static string DotNetHost()
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

    /// <summary>
    /// <paramref name="assemblyName"/>.dll next to the test assembly (a project reference copies a sample there with its
    /// runtimeconfig and certs/), or else in the sample's own build output (samples/<paramref name="sampleFolder"/>)
    /// for the same configuration and framework.
    /// </summary>
    public static string Locate(string sampleFolder, string assemblyName)
    {
        string baseDirectory = AppContext.BaseDirectory;
        if (IsRunnable(baseDirectory, assemblyName))
        {
            return Path.Combine(baseDirectory, assemblyName + ".dll");
        }

        // .../test/SukatDtls.Transport.Tests/bin/<configuration>/<tfm>/
        var tfmDirectory = new DirectoryInfo(baseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string tfm = tfmDirectory.Name;
        string configuration = tfmDirectory.Parent?.Name ?? "Debug";
        for (var directory = tfmDirectory; directory is not null; directory = directory.Parent)
        {
            string sample = Path.Combine(directory.FullName, "samples", sampleFolder);
            if (Directory.Exists(sample) && Directory.EnumerateFiles(sample, "*.csproj").Any())
            {
                string output = Path.Combine(sample, "bin", configuration, tfm);
                return IsRunnable(output, assemblyName)
                    ? Path.Combine(output, assemblyName + ".dll")
                    : throw new InvalidOperationException(
                        $"{assemblyName}.dll with its runtimeconfig and certs/ is neither in {baseDirectory} nor in {output}: build samples/{sampleFolder} ({configuration}).");
            }
        }

        throw new InvalidOperationException($"{assemblyName}.dll is not in {baseDirectory} and no samples/{sampleFolder} was found above it.");
    }

    /// <summary>
    /// Starts a sample as its own process (<c>dotnet ASSEMBLY.dll ARGUMENTS</c>, in its folder, so that its content root
    /// holds its appsettings.json and certs/), in the Production environment and with no HTTP URLs from the test runner's
    /// environment: the sample serves its own endpoints only. <paramref name="extraEnvironment"/> comes on top (a null
    /// value removes a variable).
    /// </summary>
    /// <param name="sampleFolder">The folder under samples/, e.g. "EchoServer", "CoapServer".</param>
    /// <param name="assemblyName">Its assembly, e.g. "EchoServer".</param>
    /// <param name="processName">The name in messages and the test output.</param>
    /// <param name="wrapper">A command that runs the sample (its arguments follow), e.g. <c>unshare ...</c>; else none.</param>
    public static ExternalProcess Start(string sampleFolder, string assemblyName, string processName, IEnumerable<string> arguments,
        ITestOutputHelper? output, IReadOnlyDictionary<string, string?>? extraEnvironment = null, IReadOnlyList<string>? wrapper = null)
    {
        string assembly = Locate(sampleFolder, assemblyName);
        var environment = ProductionEnvironment(extraEnvironment);
        string[] command = [.. wrapper ?? [], DotNetHost(), assembly, .. arguments];
        return ExternalProcess.Start(processName, command[0], command[1..], output,
            workingDirectory: Path.GetDirectoryName(assembly), environment: environment);
    }

    /// <summary>
    /// The environment of a web program started by a test: Production, no HTTP URLs from the test runner's environment,
    /// then <paramref name="extra"/> on top (a null value removes a variable).
    /// </summary>
    public static Dictionary<string, string?> ProductionEnvironment(IReadOnlyDictionary<string, string?>? extra)
    {
        var environment = new Dictionary<string, string?>
        {
            ["ASPNETCORE_URLS"] = null,
            ["ASPNETCORE_HTTP_PORTS"] = null,
            ["ASPNETCORE_HTTPS_PORTS"] = null,
            ["DOTNET_URLS"] = null,
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["DOTNET_ENVIRONMENT"] = "Production",
            ["DOTNET_NOLOGO"] = "1",
        };
        foreach (var (name, value) in extra ?? new Dictionary<string, string?>())
        {
            environment[name] = value;
        }

        return environment;
    }

    private static bool IsRunnable(string directory, string assemblyName) =>
        File.Exists(Path.Combine(directory, assemblyName + ".dll"))
        && File.Exists(Path.Combine(directory, assemblyName + ".runtimeconfig.json"))
        && File.Exists(Path.Combine(directory, "certs", "server.pem"))
        && File.Exists(Path.Combine(directory, "certs", "server.key"));
}
