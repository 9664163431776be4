using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>
/// The nc-dtls sample (samples/NcDtls) as a separate process, <c>dotnet nc-dtls.dll ARGS</c>, on an
/// <see cref="ExternalProcess"/> (standard output line by line, disposing kills the process tree). Adds what the
/// nc-dtls tests need beyond it: the exit code, waiting for a line of standard error (the logs), signals, and the
/// listener's bound endpoint from <c>Hosting at: ADDRESS:PORT</c>.
/// </summary>
/// <remarks>
/// ExternalProcess does not expose the exit code, so nc-dtls runs under <c>/bin/sh -c '"$@"; echo MARKER$? &gt;&amp;2'</c>:
/// the shell reports the code as the last line of standard error, which this class takes out of the lines it shows.
/// Signals go to nc-dtls itself (the shell's child), not to the shell.
/// </remarks>
internal sealed class NcDtlsProcess : IAsyncDisposable
{
    public const string ReadyPrefix = "Hosting at: ";

    private const string ExitCodeMarker = "[nc-dtls test harness] exit code: ";

    private static readonly TimeSpan s_errorPollInterval = TimeSpan.FromMilliseconds(20);
    private static int s_count;

    private NcDtlsProcess(ExternalProcess process)
    {
        Process = process;
    }

    public ExternalProcess Process { get; }

    public string Name => Process.Name;

    /// <summary>Listeners: the bound endpoint printed on the first line.</summary>
    public IPEndPoint? EndPoint { get; private set; }

    public int Port => EndPoint?.Port ?? throw new InvalidOperationException($"{Name} is not a listener.");

    public IReadOnlyList<string> StandardOutputLines => Process.StandardOutputLines;

    /// <summary>nc-dtls's standard error so far (without the harness's exit-code line).</summary>
    public IReadOnlyList<string> StandardErrorLines =>
        Process.StandardErrorLines.Where(line => !line.StartsWith(ExitCodeMarker, StringComparison.Ordinal)).ToArray();

    /// <summary>The exit code once nc-dtls has exited (and its output is read); null before.</summary>
    public int? ExitCode => Process.StandardErrorLines.LastOrDefault(line => line.StartsWith(ExitCodeMarker, StringComparison.Ordinal)) is { } marker
        ? int.Parse(marker.AsSpan(ExitCodeMarker.Length), CultureInfo.InvariantCulture)
        : null;

    /// <summary>Starts <c>dotnet nc-dtls.dll</c> with <paramref name="arguments"/>.</summary>
    /// <param name="resetInterrupt">
    /// Start with SIGINT at its default action (<c>env --default-signal=INT</c>), whatever the test runner inherited: a
    /// process started with SIGINT ignored (a background job of a shell) keeps ignoring it, and .NET then does not
    /// deliver it.
    /// </param>
    /// <param name="standardInputFile">Read standard input from this file (raw bytes) instead of the test.</param>
    /// <param name="standardOutputFile">Write standard output to this file (raw bytes) instead of the test.</param>
    public static NcDtlsProcess Start(
        ITestOutputHelper? output,
        string name,
        IReadOnlyList<string> arguments,
        bool resetInterrupt = false,
        string? standardInputFile = null,
        string? standardOutputFile = null)
    {
        string assembly = SamplePrograms.Locate("NcDtls", "nc-dtls");
        List<string> command = [SamplePrograms.DotNetHost(), assembly, .. arguments];
        if (resetInterrupt)
        {
            command.InsertRange(0, ["/usr/bin/env", "--default-signal=INT"]);
        }

        var environment = new Dictionary<string, string?>
        {
            // Whatever the test runner's environment says, nc-dtls serves its DTLS endpoint only.
            ["ASPNETCORE_URLS"] = null,
            ["ASPNETCORE_HTTP_PORTS"] = null,
            ["ASPNETCORE_HTTPS_PORTS"] = null,
            ["DOTNET_URLS"] = null,
            ["DOTNET_NOLOGO"] = "1",
        };
        // The shell runs nc-dtls (with the redirections asked for), then reports its exit code on standard error.
        string script = "\"$@\""
            + (standardInputFile is null ? "" : " < \"$NC_DTLS_STDIN\"")
            + (standardOutputFile is null ? "" : " > \"$NC_DTLS_STDOUT\"")
            + $"; echo \"{ExitCodeMarker}$?\" >&2";
        command.InsertRange(0, ["/bin/sh", "-c", script, "nc-dtls"]);
        environment["NC_DTLS_STDIN"] = standardInputFile;
        environment["NC_DTLS_STDOUT"] = standardOutputFile;

        int number = Interlocked.Increment(ref s_count);
        var process = ExternalProcess.Start(
            $"{name}#{number}", command[0], command.Skip(1), output, workingDirectory: Path.GetDirectoryName(assembly), environment: environment);

        return new NcDtlsProcess(process);
    }

    /// <summary>Starts <c>nc-dtls -l ARGS</c> and waits for its <c>Hosting at: ADDRESS:PORT</c> line.</summary>
    public static Task<NcDtlsProcess> StartListenerAsync(ITestOutputHelper? output, TimeSpan readyTimeout, params string[] arguments) =>
        StartListenerAsync(output, readyTimeout, resetInterrupt: false, arguments);

    /// <summary>Starts <c>nc-dtls -l ARGS</c> and waits for its <c>Hosting at: ADDRESS:PORT</c> line.</summary>
    public static async Task<NcDtlsProcess> StartListenerAsync(ITestOutputHelper? output, TimeSpan readyTimeout, bool resetInterrupt, params string[] arguments)
    {
        var listener = Start(output, "listener", ["-l", .. arguments], resetInterrupt);
        try
        {
            // The very first line of standard output, before any data.
            string ready = await listener.Process.ReadLineAsync(readyTimeout, what: $"'{ReadyPrefix}ADDRESS:PORT'");
            if (!ready.StartsWith(ReadyPrefix, StringComparison.Ordinal)
                || !IPEndPoint.TryParse(ready[ReadyPrefix.Length..].Trim(), out var endPoint)
                || endPoint.Port == 0)
            {
                throw new InvalidOperationException($"The listener's first line is '{ready}', not '{ReadyPrefix}ADDRESS:PORT' with a bound port.");
            }

            listener.EndPoint = endPoint;
            return listener;
        }
        catch
        {
            await listener.DisposeAsync();
            throw;
        }
    }

    /// <summary>Runs nc-dtls with standard input closed at once, to its exit (bounded); returns the finished process.</summary>
    public static async Task<NcDtlsProcess> RunToExitAsync(ITestOutputHelper? output, string name, TimeSpan timeout, params string[] arguments)
    {
        var process = Start(output, name, arguments);
        process.Process.CloseStandardInput();
        await process.WaitForExitAsync(timeout);
        return process;
    }

    /// <summary>Waits for the process to exit by itself and returns its exit code.</summary>
    /// <exception cref="TimeoutException">It still runs after <paramref name="timeout"/>.</exception>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        if (!await Process.WaitForExitAsync(timeout))
        {
            throw new TimeoutException($"{Name} did not exit within {timeout.TotalSeconds:0.#} s.{Describe()}");
        }

        // Process.WaitForExitAsync has also waited for the end of standard output and standard error: every line is in.
        return ExitCode ?? throw new InvalidOperationException($"{Name} exited without the harness's exit-code line (was the shell killed?).{Describe()}");
    }

    /// <summary>
    /// Waits until standard error holds at least <paramref name="count"/> lines that match (ExternalProcess signals new
    /// standard-output lines only, so this polls its standard-error lines, bounded by <paramref name="timeout"/>).
    /// </summary>
    public async Task<IReadOnlyList<string>> WaitForErrorLinesAsync(Func<string, bool> match, int count, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var matching = StandardErrorLines.Where(match).ToArray();
            if (matching.Length >= count)
            {
                return matching;
            }

            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"{Name} did not log {count} lines of {what} within {timeout.TotalSeconds:0.#} s (found {matching.Length}).{Describe()}");
            }

            if (Process.HasExited)
            {
                // Process.WaitForExitAsync also waits for the end of the redirected streams: then every line is in.
                await Process.WaitForExitAsync(TimeSpan.FromSeconds(5));
                matching = StandardErrorLines.Where(match).ToArray();
                return matching.Length >= count
                    ? matching
                    : throw new EndOfStreamException($"{Name} exited (code {ExitCode}) after {matching.Length} of {count} lines of {what}.{Describe()}");
            }

            await Task.Delay(s_errorPollInterval);
        }
    }

    public Task<string> WaitForErrorLineAsync(Func<string, bool> match, TimeSpan timeout, string what) =>
        WaitForErrorLinesAsync(match, 1, timeout, what).ContinueWith(t => t.Result[0], TaskScheduler.Default);

    /// <summary>Sends a signal (<c>INT</c>, <c>TERM</c>) to nc-dtls with the kill command.</summary>
    public async Task SignalAsync(string signal)
    {
        // nc-dtls is the shell's only child (env, when used, execs dotnet in place).
        string children = await File.ReadAllTextAsync($"/proc/{Process.Id}/task/{Process.Id}/children");
        string pid = children.Split(' ', StringSplitOptions.RemoveEmptyEntries).Single();
        using var kill = System.Diagnostics.Process.Start(new ProcessStartInfo("kill", ["-s", signal, pid])
        {
            UseShellExecute = false,
        }) ?? throw new InvalidOperationException("kill did not start.");
        await kill.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        if (kill.ExitCode != 0)
        {
            throw new InvalidOperationException($"kill -s {signal} {pid} failed with exit code {kill.ExitCode}.");
        }
    }

    public ValueTask DisposeAsync() => Process.DisposeAsync();

    private string Describe()
    {
        var text = new System.Text.StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"\n--- {Name} standard output (last 20 lines):\n");
        text.AppendJoin('\n', StandardOutputLines.TakeLast(20));
        text.Append(CultureInfo.InvariantCulture, $"\n--- {Name} standard error (last 20 lines):\n");
        text.AppendJoin('\n', StandardErrorLines.TakeLast(20));
        return text.ToString();
    }
}
