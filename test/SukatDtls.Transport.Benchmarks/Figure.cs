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
        string s = $"{Name}_ours={Ours.ToString("G4", inv)}";
        if (Reference is double r)
        {
            s += $" {Name}_ref={r.ToString("G4", inv)} {Name}_ratio={(Ratio is double q ? q.ToString("F2", inv) : "NaN")}";
        }

        return s;
    }
}
