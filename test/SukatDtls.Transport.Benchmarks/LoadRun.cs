using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace SukatDtls.Transport.Benchmarks;

/// <summary>One dtls_load result line (key=value pairs) plus the server CPU it cost.</summary>
internal sealed class LoadRun
{
    private readonly Dictionary<string, double> _kv = new(StringComparer.Ordinal);

    public string Raw { get; private init; } = "";

    public double CpuSeconds { get; set; }

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
