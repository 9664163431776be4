using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace SukatDtls.Transport.Benchmarks;

/// <summary>One dtls_load result line (key=value pairs) plus what it cost the server: CPU, and (ours) its runtime counters.</summary>
internal sealed class LoadRun
{
    private readonly Dictionary<string, double> _kv = new(StringComparer.Ordinal);

    public string Raw { get; private init; } = "";

    public double CpuSeconds { get; set; }

    /// <summary>The server's context switches over the run, voluntary and involuntary (see <c>ProcContextSwitches</c>).</summary>
    public long ContextSwitches { get; set; }

    /// <summary>Our server's status-page figures after the run minus before it (empty for the reference).</summary>
    public Dictionary<string, double> ServerDelta { get; } = new(StringComparer.Ordinal);

    /// <summary>A figure of <see cref="ServerDelta"/>, or NaN when there is none (the reference, or no status page).</summary>
    public double Server(string key) => ServerDelta.TryGetValue(key, out double v) ? v : double.NaN;

    public double Kv(string key) => _kv.TryGetValue(key, out double v) ? v : double.NaN;

    public static LoadRun Parse(string line)
    {
        var r = new LoadRun { Raw = line };
        foreach (string part in line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0 && double.TryParse(part[(eq + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out double v))
            {
                r._kv[part[..eq]] = v;
            }
        }

        return r;
    }
}
