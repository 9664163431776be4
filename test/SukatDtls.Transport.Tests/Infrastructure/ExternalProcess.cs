using System.Diagnostics;
using System.Text;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>
/// A child process (openssl, the echo sample) with its standard streams redirected: standard output is kept line by
/// line and can be awaited with a timeout, standard error is kept for diagnostics, both are copied to the test output.
/// Disposing kills the whole process tree (bounded wait), so a test never leaves a child behind.
/// </summary>
internal sealed class ExternalProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ITestOutputHelper? _output;
    private readonly Lock _gate = new();
    private readonly List<string> _stdout = [];
    private readonly List<string> _stderr = [];
    private readonly TaskCompletionSource _stdoutEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _outputChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _readCursor;
    private int _disposed;

    private ExternalProcess(string name, Process process, ITestOutputHelper? output)
    {
        Name = name;
        _process = process;
        _output = output;
    }

    /// <summary>A short name for messages and the test output (e.g. "openssl#3", "echo-server").</summary>
    public string Name { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Every line written to standard output so far.</summary>
    public IReadOnlyList<string> StandardOutputLines
    {
        get
        {
            lock (_gate)
            {
                return _stdout.ToArray();
            }
        }
    }

    /// <summary>Every line written to standard error so far.</summary>
    public IReadOnlyList<string> StandardErrorLines
    {
        get
        {
            lock (_gate)
            {
                return _stderr.ToArray();
            }
        }
    }

    /// <summary>Completes when standard output reached end of file (the process closed it, usually by exiting).</summary>
    public Task StandardOutputEnded => _stdoutEnded.Task;

    public static ExternalProcess Start(
        string name,
        string fileName,
        IEnumerable<string> arguments,
        ITestOutputHelper? output,
        string? workingDirectory = null,
        IReadOnlyDictionary<string, string?>? environment = null)
    {
        var startInfo = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            CreateNoWindow = true,
            StandardInputEncoding = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false),
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (string argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        if (workingDirectory is not null)
        {
            startInfo.WorkingDirectory = workingDirectory;
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string?>())
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

        var process = new Process { StartInfo = startInfo, EnableRaisingEvents = true };
        var external = new ExternalProcess(name, process, output);
        process.OutputDataReceived += (_, e) => external.OnStandardOutput(e.Data);
        process.ErrorDataReceived += (_, e) => external.OnStandardError(e.Data);
        try
        {
            if (!process.Start())
            {
                throw new InvalidOperationException($"{name}: '{fileName}' did not start.");
            }
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            process.Dispose();
            throw new InvalidOperationException($"{name}: cannot start '{fileName}': {ex.Message}", ex);
        }

        process.StandardInput.AutoFlush = true;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        external.Log($"started pid {process.Id}: {fileName} {string.Join(' ', startInfo.ArgumentList)}");
        return external;
    }

    /// <summary>The full path of <paramref name="program"/> found on PATH, or null.</summary>
    public static string? FindOnPath(string program)
    {
        foreach (string directory in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(directory, program);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>Writes one line (with "\n") to the process's standard input.</summary>
    public async Task WriteLineAsync(string line)
    {
        await _process.StandardInput.WriteAsync(line + "\n");
        await _process.StandardInput.FlushAsync();
    }

    public void CloseStandardInput() => _process.StandardInput.Close();

    /// <summary>
    /// The next line of standard output not read before (by this method), or, with <paramref name="match"/>, the next
    /// such line that matches (lines before it are consumed).
    /// </summary>
    /// <exception cref="TimeoutException">No such line within <paramref name="timeout"/>.</exception>
    /// <exception cref="EndOfStreamException">Standard output ended first (the process exited).</exception>
    public Task<string> ReadLineAsync(TimeSpan timeout, Func<string, bool>? match = null, string? what = null) =>
        NextLineAsync(consume: true, standardError: false, match, timeout, what ?? "a line");

    /// <summary>
    /// A line of standard output, written before or after this call, that matches; reading with
    /// <see cref="ReadLineAsync"/> is not affected.
    /// </summary>
    public Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout, string what) =>
        NextLineAsync(consume: false, standardError: false, match, timeout, what);

    /// <summary>
    /// A line of standard error, written before or after this call, that matches (for programs that report on standard
    /// error, as gnutls-serv does).
    /// </summary>
    public Task<string> WaitForErrorLineAsync(Func<string, bool> match, TimeSpan timeout, string what) =>
        NextLineAsync(consume: false, standardError: true, match, timeout, what);

    private async Task<string> NextLineAsync(bool consume, bool standardError, Func<string, bool>? match, TimeSpan timeout, string what)
    {
        using var deadline = new CancellationTokenSource(timeout);
        int scanned = 0;
        var lines = standardError ? _stderr : _stdout;
        while (true)
        {
            Task? changed;
            lock (_gate)
            {
                ref int cursor = ref consume ? ref _readCursor : ref scanned;
                while (cursor < lines.Count)
                {
                    string line = lines[cursor++];
                    if (match is null || match(line))
                    {
                        return line;
                    }
                }

                changed = _stdoutEnded.Task.IsCompleted ? null : _outputChanged.Task;
            }

            if (changed is null)
            {
                throw new EndOfStreamException($"{Name} closed its standard output (exit code {ExitCodeText()}) before writing {what}.{Describe()}");
            }

            try
            {
                await changed.WaitAsync(deadline.Token);
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested)
            {
                throw new TimeoutException($"{Name} did not write {what} within {timeout.TotalSeconds:0.#} s.{Describe()}");
            }
        }
    }

    /// <summary>Waits until standard output holds at least <paramref name="count"/> lines that match; returns them.</summary>
    public async Task<IReadOnlyList<string>> WaitForLinesAsync(Func<string, bool> match, int count, TimeSpan timeout, string what)
    {
        using var deadline = new CancellationTokenSource(timeout);
        string[] matching;
        while (true)
        {
            Task? changed;
            lock (_gate)
            {
                matching = _stdout.Where(match).ToArray();
                if (matching.Length >= count)
                {
                    return matching;
                }

                changed = _stdoutEnded.Task.IsCompleted ? null : _outputChanged.Task;
            }

            if (changed is null)
            {
                throw new EndOfStreamException($"{Name} closed its standard output (exit code {ExitCodeText()}) after {matching.Length} of {count} lines of {what}.{Describe()}");
            }

            try
            {
                await changed.WaitAsync(deadline.Token);
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested)
            {
                throw new TimeoutException($"{Name} did not write {count} lines of {what} within {timeout.TotalSeconds:0.#} s.{Describe()}");
            }
        }
    }

    /// <summary>Waits for the process to exit by itself; false when it is still running after <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        try
        {
            await _process.WaitForExitAsync().WaitAsync(timeout);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <summary>Kills the process and its children (if still running) and waits, bounded, for standard output to end.</summary>
    public async Task KillAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // It exited meanwhile.
        }

        if (!await WaitForExitAsync(TimeSpan.FromSeconds(10)))
        {
            Log("did not exit within 10 s of being killed");
            return;
        }

        // Exited: the redirected streams reach EOF once the remaining output has been delivered.
        try
        {
            await _stdoutEnded.Task.WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (TimeoutException)
        {
            Log("standard output did not end within 5 s of the exit (a grandchild may hold it)");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await KillAsync();
        _process.Dispose();
    }

    /// <summary>The exit code, once the process has exited.</summary>
    public int? ExitCode => _process.HasExited ? _process.ExitCode : null;

    private string ExitCodeText()
    {
        try
        {
            return _process.HasExited ? _process.ExitCode.ToString(System.Globalization.CultureInfo.InvariantCulture) : "still running";
        }
        catch (InvalidOperationException)
        {
            return "unknown";
        }
    }

    private string Describe()
    {
        lock (_gate)
        {
            var text = new StringBuilder();
            text.Append(System.Globalization.CultureInfo.InvariantCulture, $"\n--- {Name} standard output ({_stdout.Count} lines, last 20):\n");
            text.AppendJoin('\n', _stdout.TakeLast(20));
            text.Append(System.Globalization.CultureInfo.InvariantCulture, $"\n--- {Name} standard error ({_stderr.Count} lines, last 20):\n");
            text.AppendJoin('\n', _stderr.TakeLast(20));
            return text.ToString();
        }
    }

    private void OnStandardOutput(string? line)
    {
        TaskCompletionSource changed;
        lock (_gate)
        {
            if (line is null)
            {
                // Under the lock: a reader that finds no line either sees the end or waits on the pulse below.
                _stdoutEnded.TrySetResult();
            }
            else
            {
                _stdout.Add(line);
            }

            changed = _outputChanged;
            _outputChanged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        if (line is not null)
        {
            Log("out: " + line);
        }

        changed.TrySetResult();
    }

    private void OnStandardError(string? line)
    {
        if (line is null)
        {
            return;
        }

        TaskCompletionSource changed;
        lock (_gate)
        {
            _stderr.Add(line);
            changed = _outputChanged;
            _outputChanged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        Log("err: " + line);
        changed.TrySetResult();
    }

    private void Log(string message)
    {
        try
        {
            _output?.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} [{Name}] {message}");
        }
        catch (InvalidOperationException)
        {
            // The test has finished; its output is closed.
        }
    }
}
