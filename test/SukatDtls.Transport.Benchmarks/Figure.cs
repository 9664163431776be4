using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace SukatDtls.Transport.Benchmarks;

/// <summary>One figure: ours, the reference's (null when the reference has no such thing) and ours/reference.</summary>
internal sealed record Figure(string Scenario, string Name, string Unit, double Ours, double? Reference, bool LowerIsBetter)
{
    public double? Ratio => Reference is double r && r != 0 && double.IsFinite(r) && double.IsFinite(Ours) ? Ours / r : null;

    public string ToKeyValues()
    {
        var inv = CultureInfo.InvariantCulture;
        string s = $"{Name}_ours={Format(Ours)}";
        if (Reference is double r)
        {
            s += $" {Name}_ref={Format(r)} {Name}_ratio={(Ratio is double q ? q.ToString("F2", inv) : "NaN")}";
        }

        return s;
    }

    /// <summary>Four significant digits; whole numbers (counts such as 12000 handshakes) in full, not as 1.2E+04.</summary>
    private static string Format(double v) =>
        double.IsFinite(v) && v == Math.Round(v) && Math.Abs(v) < 1e15
            ? v.ToString("0", CultureInfo.InvariantCulture)
            : v.ToString("G4", CultureInfo.InvariantCulture);
}
