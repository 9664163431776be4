using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace SukatDtls.Transport.Benchmarks;

/// <summary>Running dtls_load against a server and reading what it cost the server.</summary>
internal static partial class Program
{
    /// <summary>
    /// One measured dtls_load run: its result line, the server's CPU (from /proc, read right before and after) and,
    /// for ours, its runtime counters (status page read before the first CPU reading and after the second, so the
    /// two HTTP requests cost no measured CPU; their few KB of allocations do count, noise against the run's MBs).
    /// </summary>
    private static LoadRun Measure(Tools t, Server s, string args, int timeoutSeconds)
    {
        var status0 = ReadStatus(s);
        long switchesBefore = ProcContextSwitches(s.Pid);
        long before = ProcCpuTicks(s.Pid);
        var lr = Load(t, s, args, timeoutSeconds);
        long after = ProcCpuTicks(s.Pid);
        long switchesAfter = ProcContextSwitches(s.Pid);
        var status1 = ReadStatus(s);
        lr.CpuSeconds = (after - before) / (double)t.ClkTck;
        lr.ContextSwitches = switchesAfter - switchesBefore;
        Subtract(status0, status1, lr.ServerDelta);
        string runtime = lr.ServerDelta.Count == 0
            ? ""
            : FormattableString.Invariant($" alloc_mb={lr.Server(GcAllocatedBytes) / 1048576:F1} gcs={lr.Server(GcGen0Collections)} gen2_gcs={lr.Server(GcGen2Collections)} gc_pause_ms={lr.Server(GcPauseMilliseconds):F1} jit_methods={lr.Server(JitCompiledMethods)} jit_ms={lr.Server(JitCompilationMilliseconds):F0}");
        Console.Error.WriteLine($"  {(s.Ours ? "ours" : "ref ")} {args}: {lr.Raw} server_cpu_s={lr.CpuSeconds:F2} server_ctx_switches={lr.ContextSwitches}{runtime}");
        return lr;
    }

    private static LoadRun Load(Tools t, Server s, string args, int timeoutSeconds)
    {
        var run = StartLoad(t, s, args);
        if (!run.Process.WaitForExit(timeoutSeconds * 1000))
        {
            run.Process.Kill();
            throw new InvalidOperationException($"dtls_load {args} did not finish in {timeoutSeconds} s");
        }

        return FinishLoad(run, args);
    }

    private sealed record LoadProcess(Process Process, StringBuilder Out, StringBuilder Err);

    /// <param name="port">Where dtls_load connects (127.0.0.1): the server's port unless given (a relay's).</param>
    private static LoadProcess StartLoad(Tools t, Server s, string args, int? port = null)
    {
        var psi = new ProcessStartInfo(t.Load, $"-H 127.0.0.1 -p {port ?? s.Port} {args}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start dtls_load");
        var o = new StringBuilder();
        var e = new StringBuilder();
        p.OutputDataReceived += (_, a) => { if (a.Data is not null) { lock (o) { o.AppendLine(a.Data); } } };
        p.ErrorDataReceived += (_, a) => { if (a.Data is not null) { lock (e) { e.AppendLine(a.Data); } } };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return new LoadProcess(p, o, e);
    }

    private static LoadRun FinishLoad(LoadProcess run, string what)
    {
        run.Process.WaitForExit();
        string text;
        lock (run.Out)
        {
            text = run.Out.ToString().Trim();
        }

        var lr = LoadRun.Parse(text);
        if (run.Process.ExitCode != 0)
        {
            Console.Error.WriteLine($"  warning: dtls_load {what} exit {run.Process.ExitCode}: {text} {run.Err.ToString().Trim()}");
        }

        run.Process.Dispose();
        return lr;
    }

    // ---------------------------------------------------------------- /proc
}
