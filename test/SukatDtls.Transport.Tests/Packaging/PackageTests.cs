using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Text;
using System.Xml.Linq;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Packaging;

/// <summary>
/// The NuGet package as a user gets it: <c>dotnet pack</c> of the library, its contents and nuspec checked, then a new
/// web project outside the repository that references the package (from a local folder source), with a program in the
/// style of the package README's quick start, built, run, and served a DTLS echo; then the same project published with
/// Native AOT (needs clang and zlib1g-dev, which .ci/run installs), run with a bad configuration value and normally.
/// </summary>
/// <remarks>
/// Everything happens in a temp folder: the library is packed from a copy of its sources (so the repository's own
/// bin/ and obj/ are not touched, and a concurrent build of the repository cannot collide with it); the new project
/// restores into a global packages folder of its own (a package packed by an earlier run under the same version can
/// never be picked up stale), with the machine's global packages folder as a read-only fallback and the machine's
/// package sources kept (its nuget.config only adds the local folder). Build servers are disabled, so no compiler or
/// MSBuild node outlives the test. Filter with <c>--filter Category=Packaging</c> (or leave it out with
/// <c>Category!=Packaging</c>).
/// </remarks>
[Trait("Category", "Packaging")]
[Collection(PackagingTestGroup.Name)]
public sealed class PackageTests(ITestOutputHelper output)
{
    private const string PackageId = "SukatDtls.Transport";
    private const string ReadyPrefix = "Hosting at: ";

    /// <summary>Restore plus build of a project on 2 cores is 20–60 s cold; this bounds a hung one.</summary>
    private static readonly TimeSpan BuildTimeout = TimeSpan.FromMinutes(4);

    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);

    private static readonly string[] ExpectedTags = ["dtls", "udp", "kestrel", "coap", "iot", "bouncycastle"];

    [Fact]
    public async Task Packed_library_has_its_readme_docs_symbols_and_dependencies_and_serves_DTLS_from_a_new_project_also_published_with_Native_AOT()
    {
        var total = Stopwatch.StartNew();
        string repository = FindRepositoryRoot();
        var temp = Directory.CreateTempSubdirectory("sukatdtls-package-test-");
        output.WriteLine($"repository {repository}, temp {temp.FullName}");
        try
        {
            // 1. Pack a copy of the library.
            string sources = Path.Combine(temp.FullName, "repo");
            string feed = Path.Combine(temp.FullName, "feed");
            CopyLibrarySources(repository, sources);
            await RunToEndAsync("dotnet pack",
                ["pack", Path.Combine(sources, "src", PackageId), "-c", "Release", "-o", feed, "--disable-build-servers"],
                workingDirectory: sources, environment: null);

            string package = Assert.Single(Directory.GetFiles(feed, "*.nupkg"));
            string version = Path.GetFileNameWithoutExtension(package)[(PackageId.Length + 1)..];
            output.WriteLine($"packed {Path.GetFileName(package)} ({new FileInfo(package).Length} bytes) in {total.Elapsed.TotalSeconds:0.0} s");
            AssertPackageContents(package, version, repository);
            AssertSymbolPackage(Path.Combine(feed, $"{PackageId}.{version}.snupkg"));

            // 2. A new project outside the repository, referencing the package.
            string app = Path.Combine(temp.FullName, "app");
            string packages = Path.Combine(temp.FullName, "packages");
            WriteApplication(app, feed, version);
            var buildEnvironment = new Dictionary<string, string?> { ["NUGET_PACKAGES"] = packages };
            var build = Stopwatch.StartNew();
            await RunToEndAsync("dotnet build",
                ["build", app, "-c", "Release", "-o", Path.Combine(app, "out"), "--disable-build-servers"],
                workingDirectory: app, buildEnvironment);
            output.WriteLine($"restored and built the new project in {build.Elapsed.TotalSeconds:0.0} s");
            Assert.True(Directory.Exists(Path.Combine(packages, PackageId.ToLowerInvariant(), version)),
                $"the new project did not restore {PackageId} {version} from the local folder into its own packages folder");

            // 3. Run it, talk DTLS to it, stop it.
            await ServeEchoAsync("package-app", SamplePrograms.DotNetHost(), [Path.Combine(app, "out", "PackageApp.dll")], app);

            // 4. The same project published with Native AOT, warnings as errors (the app's own setting, which the AOT
            // compiler's trimming and AOT warnings follow): the library must need nothing that AOT cannot give it.
            var publish = Stopwatch.StartNew();
            string native = Path.Combine(app, "out-aot");
            await RunToEndAsync("dotnet publish (Native AOT)",
                ["publish", app, "-c", "Release", "-p:PublishAot=true", "-o", native, "--disable-build-servers"],
                workingDirectory: app, buildEnvironment);
            output.WriteLine($"published the new project with Native AOT in {publish.Elapsed.TotalSeconds:0.0} s");
            string executable = Path.Combine(native, "PackageApp");

            // A bad value in its configuration section stops it at start, named by its key: binding and validation work trimmed.
            await using (var misconfigured = ExternalProcess.Start("package-app-aot-misconfigured", executable, [], output,
                workingDirectory: app, environment: AppEnvironment(new Dictionary<string, string?> { ["Dtls__MaxConnections"] = "0" })))
            {
                Assert.True(await misconfigured.WaitForExitAsync(Step), "the misconfigured native app did not stop within 30 s");
                Assert.NotEqual(0, misconfigured.ExitCode);
                string said = string.Join('\n', misconfigured.StandardOutputLines.Concat(misconfigured.StandardErrorLines));
                Assert.Contains("Dtls:MaxConnections must be positive; it is 0.", said, StringComparison.Ordinal);
            }

            await ServeEchoAsync("package-app-aot", executable, [], app, new Dictionary<string, string?> { ["Dtls__IdleTimeout"] = "00:05:00" });
            output.WriteLine($"total {total.Elapsed.TotalSeconds:0.0} s");
        }
        finally
        {
            try
            {
                temp.Delete(recursive: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                output.WriteLine($"could not delete {temp.FullName}: {ex.Message}");
            }
        }
    }

    /// <summary>Starts the app, echoes a line over DTLS, then ends its standard input (it stops) and checks its logs.</summary>
    private async Task ServeEchoAsync(string name, string program, string[] arguments, string app, IReadOnlyDictionary<string, string?>? settings = null)
    {
        await using var server = ExternalProcess.Start(name, program, arguments, output, workingDirectory: app, environment: AppEnvironment(settings));
        string ready = await server.ReadLineAsync(Step, line => line.StartsWith(ReadyPrefix, StringComparison.Ordinal), $"'{ReadyPrefix}ADDRESS:PORT'");
        Assert.True(IPEndPoint.TryParse(ready[ReadyPrefix.Length..].Trim(), out var endPoint) && endPoint.Port != 0, $"no bound endpoint in '{ready}'");
        using (var client = await TestDtlsClient.ConnectAsync(endPoint!).WaitAsync(Step))
        {
            string line = $"hello from the package test {Guid.NewGuid():N}";
            client.Send(line);
            Assert.Equal(line, client.ReceiveText(timeoutMillis: (int)Step.TotalMilliseconds));
            client.Close();
        }

        // End of standard input makes it stop the host gracefully.
        server.CloseStandardInput();
        Assert.True(await server.WaitForExitAsync(Step), $"{name} did not stop within 30 s of the end of its input");
        Assert.Equal(0, server.ExitCode);
        var errors = server.StandardOutputLines.Concat(server.StandardErrorLines)
            .Where(l => l.StartsWith("fail:", StringComparison.Ordinal) || l.StartsWith("crit:", StringComparison.Ordinal) || l.Contains("Unhandled exception", StringComparison.Ordinal))
            .ToArray();
        Assert.True(errors.Length == 0, $"{name} logged errors:\n" + string.Join('\n', errors));
    }

    /// <summary>The app's environment: a test's web program's (<see cref="SamplePrograms.ProductionEnvironment"/>) for a child dotnet.</summary>
    private static Dictionary<string, string?> AppEnvironment(IReadOnlyDictionary<string, string?>? settings) =>
        ChildEnvironment(SamplePrograms.ProductionEnvironment(settings));

    /// <summary>The nupkg holds the DLL, its XML docs and the README; its nuspec has the metadata and dependencies.</summary>
    private void AssertPackageContents(string package, string version, string repository)
    {
        using var zip = ZipFile.OpenRead(package);
        var entries = zip.Entries.Select(e => e.FullName).ToHashSet(StringComparer.Ordinal);
        output.WriteLine("nupkg: " + string.Join(", ", entries.Order(StringComparer.Ordinal)));
        Assert.Contains("README.md", entries);
        Assert.Contains("lib/net10.0/SukatDtls.Transport.dll", entries);
        Assert.Contains("lib/net10.0/SukatDtls.Transport.xml", entries);
        Assert.DoesNotContain(entries, e => e.EndsWith(".pdb", StringComparison.OrdinalIgnoreCase)); // symbols go to the snupkg
        Assert.DoesNotContain(entries, e => e.Contains("EchoServer", StringComparison.OrdinalIgnoreCase) || e.Contains("Tests", StringComparison.Ordinal));

        string readme = ReadEntry(zip, "README.md");
        Assert.Contains("UseDtls", readme, StringComparison.Ordinal);
        Assert.Contains("DtlsEndPoint", readme, StringComparison.Ordinal);
        string docs = ReadEntry(zip, "lib/net10.0/SukatDtls.Transport.xml");
        Assert.Contains("T:SukatDtls.Transport.DtlsTransportOptions", docs, StringComparison.Ordinal);

        var nuspec = XDocument.Parse(ReadEntry(zip, $"{PackageId}.nuspec"));
        XNamespace ns = nuspec.Root!.Name.Namespace;
        var metadata = nuspec.Root.Element(ns + "metadata")!;
        output.WriteLine(metadata.ToString());
        Assert.Equal(PackageId, metadata.Element(ns + "id")?.Value);
        Assert.Equal(version, metadata.Element(ns + "version")?.Value);
        Assert.False(string.IsNullOrWhiteSpace(metadata.Element(ns + "authors")?.Value));
        Assert.False(string.IsNullOrWhiteSpace(metadata.Element(ns + "description")?.Value));
        Assert.Equal("README.md", metadata.Element(ns + "readme")?.Value);
        var license = metadata.Element(ns + "license");
        Assert.Equal("expression", license?.Attribute("type")?.Value);
        Assert.Equal("MIT", license?.Value);
        Assert.Equal("git", metadata.Element(ns + "repository")?.Attribute("type")?.Value);
        var tags = (metadata.Element(ns + "tags")?.Value ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(ExpectedTags, tags);

        // Exactly one dependency, at the version the repository pins centrally; and the ASP.NET Core shared framework.
        var dependencies = metadata.Descendants(ns + "dependency").ToArray();
        var bouncyCastle = Assert.Single(dependencies);
        Assert.Equal("BouncyCastle.Cryptography", bouncyCastle.Attribute("id")?.Value);
        Assert.Equal(CentralVersion(repository, "BouncyCastle.Cryptography"), bouncyCastle.Attribute("version")?.Value);
        Assert.Equal("net10.0", bouncyCastle.Parent?.Attribute("targetFramework")?.Value);
        var frameworkReference = Assert.Single(metadata.Descendants(ns + "frameworkReference"));
        Assert.Equal("Microsoft.AspNetCore.App", frameworkReference.Attribute("name")?.Value);
    }

    private void AssertSymbolPackage(string symbols)
    {
        Assert.True(File.Exists(symbols), $"no symbol package {Path.GetFileName(symbols)}");
        using var zip = ZipFile.OpenRead(symbols);
        output.WriteLine("snupkg: " + string.Join(", ", zip.Entries.Select(e => e.FullName).Order(StringComparer.Ordinal)));
        Assert.Contains(zip.Entries, e => e.FullName == "lib/net10.0/SukatDtls.Transport.pdb");
    }

    private static string ReadEntry(ZipArchive zip, string name)
    {
        var entry = zip.GetEntry(name) ?? throw new InvalidOperationException($"no {name} in the package");
        using var reader = new StreamReader(entry.Open(), Encoding.UTF8);
        return reader.ReadToEnd();
    }

    private static string? CentralVersion(string repository, string package) =>
        XDocument.Load(Path.Combine(repository, "Directory.Packages.props"))
            .Descendants("PackageVersion")
            .FirstOrDefault(e => string.Equals(e.Attribute("Include")?.Value, package, StringComparison.OrdinalIgnoreCase))
            ?.Attribute("Version")?.Value;

    /// <summary>The repository: the first folder above the test assembly that holds SukatDtls.Transport.sln.</summary>
    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "SukatDtls.Transport.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No SukatDtls.Transport.sln above {AppContext.BaseDirectory}.");
    }

    /// <summary>
    /// The library's folder (without bin/ and obj/) and the repository-wide build files it depends on, at the same
    /// relative places.
    /// </summary>
    private static void CopyLibrarySources(string repository, string destination)
    {
        CopyTree(Path.Combine(repository, "src", PackageId), Path.Combine(destination, "src", PackageId));
        foreach (string file in new[] { "Directory.Build.props", "Directory.Build.targets", "Directory.Packages.props", "NuGet.config", "global.json", "LICENSE" })
        {
            string source = Path.Combine(repository, file);
            if (File.Exists(source))
            {
                File.Copy(source, Path.Combine(destination, file));
            }
        }
    }

    private static void CopyTree(string source, string destination)
    {
        Directory.CreateDirectory(destination);
        foreach (string file in Directory.GetFiles(source))
        {
            File.Copy(file, Path.Combine(destination, Path.GetFileName(file)));
        }

        foreach (string directory in Directory.GetDirectories(source))
        {
            string name = Path.GetFileName(directory);
            if (name is not ("bin" or "obj"))
            {
                CopyTree(directory, Path.Combine(destination, name));
            }
        }
    }

    /// <summary>
    /// A web project in the style of the package README's quick start, with the development certificate; it prints
    /// the bound endpoint and stops when its standard input ends.
    /// </summary>
    private static void WriteApplication(string app, string feed, string version)
    {
        Directory.CreateDirectory(app);

        // Not the repository's build settings, nor any found above the temp folder.
        File.WriteAllText(Path.Combine(app, "Directory.Build.props"), "<Project />\n");
        File.WriteAllText(Path.Combine(app, "Directory.Build.targets"), "<Project />\n");
        File.WriteAllText(Path.Combine(app, "Directory.Packages.props"), "<Project />\n");

        // Adds the local folder to the machine's sources (no <clear/>); the machine's global packages folder, when
        // there is one, serves the dependencies it already holds without a download.
        var config = new XElement("configuration",
            new XElement("packageSources",
                new XElement("add", new XAttribute("key", "sukatdtls-package-test"), new XAttribute("value", feed))));
        string machinePackages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } configured
            ? configured
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        if (Directory.Exists(machinePackages))
        {
            config.Add(new XElement("fallbackPackageFolders",
                new XElement("add", new XAttribute("key", "machine-global-packages"), new XAttribute("value", machinePackages))));
        }

        new XDocument(config).Save(Path.Combine(app, "nuget.config"));

        File.WriteAllText(Path.Combine(app, "PackageApp.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk.Web">
              <PropertyGroup>
                <TargetFramework>net10.0</TargetFramework>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
                <!-- No vulnerability look-up: the test is about the package, not about the network. -->
                <NuGetAudit>false</NuGetAudit>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="{PackageId}" Version="[{version}]" />
              </ItemGroup>
            </Project>
            """);

        File.WriteAllText(Path.Combine(app, "Program.cs"), $$"""
            using System.Net;
            using System.Security.Cryptography.X509Certificates;
            using Microsoft.AspNetCore.Connections;
            using Microsoft.AspNetCore.Server.Kestrel.Core;
            using SukatDtls.Transport;

            var builder = WebApplication.CreateBuilder(args);
            // The section "Dtls" (environment variables Dtls__*) and code: the Native AOT run checks that binding works trimmed.
            builder.WebHost.UseDtls("Dtls", o => o.ServerCertificate = X509Certificate2.CreateFromPemFile("server.pem", "server.key"));
            ListenOptions? dtls = null;
            builder.WebHost.ConfigureKestrel(k => k.Listen(new DtlsEndPoint(IPAddress.Loopback, 0), l =>
            {
                dtls = l;
                l.UseConnectionHandler<Echo>();
            }));
            var app = builder.Build();
            await app.StartAsync();
            Console.WriteLine($"{{ReadyPrefix}}{((DtlsEndPoint)dtls!.EndPoint).IPEndPoint}");

            // The test ends its standard input to stop the host.
            await Console.In.ReadToEndAsync();
            await app.StopAsync();

            sealed class Echo : ConnectionHandler
            {
                public override async Task OnConnectedAsync(ConnectionContext connection)
                {
                    while (true)
                    {
                        var result = await connection.Transport.Input.ReadAsync();
                        foreach (var segment in result.Buffer)
                        {
                            await connection.Transport.Output.WriteAsync(segment);
                        }

                        connection.Transport.Input.AdvanceTo(result.Buffer.End);
                        if (result.IsCompleted)
                        {
                            break;
                        }
                    }
                }
            }
            """);

        File.Copy(TestCertificates.ServerPem, Path.Combine(app, "server.pem"));
        File.Copy(TestCertificates.ServerKey, Path.Combine(app, "server.key"));
    }

    /// <summary>
    /// Runs <c>dotnet</c> to its end, bounded by <see cref="BuildTimeout"/> (then the process tree is killed); a
    /// non-zero exit code fails the test with the output's last lines.
    /// </summary>
    private async Task RunToEndAsync(string what, IEnumerable<string> arguments, string workingDirectory, IReadOnlyDictionary<string, string?>? environment)
    {
        var startInfo = new ProcessStartInfo(SamplePrograms.DotNetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        foreach (string argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in ChildEnvironment(environment))
        {
            if (value is null)
            {
                startInfo.Environment.Remove(key);
            }
            else
            {
                startInfo.Environment[key] = value;
            }
        }

        var lines = new List<string>();
        void Collect(string? line)
        {
            if (line is not null)
            {
                lock (lines)
                {
                    lines.Add(line);
                }
            }
        }

        var watch = Stopwatch.StartNew();
        using var process = new Process { StartInfo = startInfo };
        process.OutputDataReceived += (_, e) => Collect(e.Data);
        process.ErrorDataReceived += (_, e) => Collect(e.Data);
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await process.WaitForExitAsync().WaitAsync(BuildTimeout);
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(15));
            Assert.Fail($"{what} did not finish within {BuildTimeout.TotalSeconds:0} s:\n{Tail(lines)}");
        }

        // The exit came first; wait (bounded) for the last redirected lines.
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(15));
        output.WriteLine($"{what}: exit code {process.ExitCode} after {watch.Elapsed.TotalSeconds:0.0} s");
        if (process.ExitCode != 0)
        {
            Assert.Fail($"{what} failed with exit code {process.ExitCode}:\n{Tail(lines)}");
        }

        static string Tail(List<string> lines)
        {
            lock (lines)
            {
                return string.Join('\n', lines.TakeLast(60));
            }
        }
    }

    /// <summary>
    /// The environment of a child dotnet: quiet, no telemetry, and none of the MSBuild variables that <c>dotnet test</c>
    /// leaves in the test host's environment (they would steer the child's build).
    /// </summary>
    private static Dictionary<string, string?> ChildEnvironment(IReadOnlyDictionary<string, string?>? overrides)
    {
        var environment = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            ["DOTNET_NOLOGO"] = "1",
            ["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1",
            ["MSBUILDDISABLENODEREUSE"] = "1",
        };
        foreach (string name in Environment.GetEnvironmentVariables().Keys.Cast<string>())
        {
            if (name.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase) && !environment.ContainsKey(name))
            {
                environment[name] = null;
            }
        }

        foreach (var (key, value) in overrides ?? new Dictionary<string, string?>())
        {
            environment[key] = value;
        }

        return environment;
    }
}

/// <summary>
/// The packaging test runs after the parallel tests, alone: its builds take both cores for a while, which would slow
/// the timing-sensitive tests, and its child processes would disturb the process-wide leak measurements.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class PackagingTestGroup
{
    public const string Name = "Packaging";
}
