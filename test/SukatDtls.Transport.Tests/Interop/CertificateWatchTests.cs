using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Interop;

/// <summary>
/// A certificate directory that cannot be watched: the echo sample runs in a user namespace of the test's own whose
/// inotify limit is 0 (the limits in /proc/sys/user are per user namespace, so nothing else on the machine is touched).
/// The server must say it will not reload (event 44) and go on serving. Needs util-linux's unshare and user namespaces
/// (CI runs as root).
/// </summary>
public sealed class CertificateWatchTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData("max_inotify_watches")]   // .NET reports it through the watcher's Error event, after the start
    [InlineData("max_inotify_instances")] // .NET throws it when the watcher starts
    public async Task When_inotify_is_exhausted_the_server_says_it_cannot_watch_and_keeps_serving(string limit)
    {
        await using var server = SamplePrograms.Start("EchoServer", "EchoServer", $"echo-server@{limit}=0",
            ["--port", "0", "--status-port", "0"], output,
            extraEnvironment: new Dictionary<string, string?>
            {
                // The host's own configuration reload would need inotify too: it polls instead.
                ["DOTNET_USE_POLLING_FILE_WATCHER"] = "true",
            },
            wrapper: ["unshare", "--user", "--map-root-user", "sh", "-c", "echo 0 > /proc/sys/user/$0 && exec \"$@\"", limit]);

        await server.WaitForLineAsync(line => line.Contains("SukatDtls.Transport.Certificates[44]", StringComparison.Ordinal), Step, "event 44");
        string message = await server.WaitForLineAsync(line => line.Contains("Cannot watch", StringComparison.Ordinal), Step, "its message");
        Assert.Contains("will not be reloaded", message, StringComparison.Ordinal);

        string ready = await server.WaitForLineAsync(line => line.StartsWith("Hosting at: ", StringComparison.Ordinal), Step, "Hosting at");
        string port = ready[(ready.LastIndexOf(':') + 1)..].Trim();
        await using var client = OpenSslCli.StartDtlsClient($"127.0.0.1:{port}", output);
        await client.WriteLineAsync("still serving");
        Assert.Equal("still serving", await client.ReadLineAsync(Step, what: "the echo"));
    }
}
