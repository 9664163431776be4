using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace SukatDtls.Transport.Benchmarks;

/// <summary>Building the OpenSSL tools, running commands, finding the repository.</summary>
internal static partial class Program
{
    private static string Gcc(string source, string output, params string[] libs)
    {
        Exec("gcc", ["-O2", "-o", output, source, .. libs], ".", 120);
        return output;
    }

    private static string Exec(string file, string[] args, string cwd, int timeoutSeconds)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = cwd };
        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + file);
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(timeoutSeconds * 1000))
        {
            p.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{file} timed out");
        }

        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({p.ExitCode}): {output}{err.GetAwaiter().GetResult()}");
        }

        return output;
    }

    private static string FindRepoRoot()
    {
        foreach (string start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
            {
                if (File.Exists(Path.Combine(d.FullName, "SukatDtls.Transport.sln")))
                {
                    return d.FullName;
                }
            }
        }

        throw new InvalidOperationException("cannot find the repository root (SukatDtls.Transport.sln).");
    }
}
