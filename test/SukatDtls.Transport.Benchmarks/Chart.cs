using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace SukatDtls.Transport.Benchmarks;

/// <summary>A hand-written SVG: one horizontal bar per figure, ours/reference on a log scale, with the 1.0 line.</summary>
internal static class Chart
{
    public static string Svg(List<Figure> figs, string machine)
    {
        var inv = CultureInfo.InvariantCulture;
        const int left = 340, width = 420, rowH = 22, top = 50;
        int height = top + (figs.Count * rowH) + 50;
        double lo = Math.Log10(0.1), hi = Math.Log10(100);
        foreach (var f in figs)
        {
            double l = Math.Log10(Math.Max(1e-3, f.Ratio!.Value));
            lo = Math.Min(lo, Math.Floor(l));
            hi = Math.Max(hi, Math.Ceiling(l));
        }

        double X(double ratio) => left + ((Math.Log10(Math.Max(1e-3, ratio)) - lo) / (hi - lo) * width);
        var sb = new StringBuilder();
        sb.Append(inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{left + width + 90}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        sb.Append(inv, $"<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        sb.Append(inv, $"<text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">SukatDtls echo sample / OpenSSL reference (log scale; 1.0 = parity)</text>\n");
        sb.Append(inv, $"<text x=\"10\" y=\"38\" fill=\"#555\">green: ours better, red: ours worse ({Esc(machine)})</text>\n");
        for (double d = lo; d <= hi; d++)
        {
            double v = Math.Pow(10, d);
            double x = X(v);
            sb.Append(inv, $"<line x1=\"{x:F1}\" y1=\"{top - 5}\" x2=\"{x:F1}\" y2=\"{height - 40}\" stroke=\"{(d == 0 ? "#000" : "#ddd")}\" stroke-width=\"{(d == 0 ? 1.5 : 1)}\"/>\n");
            sb.Append(inv, $"<text x=\"{x:F1}\" y=\"{height - 25}\" text-anchor=\"middle\">{v.ToString("0.###", inv)}×</text>\n");
        }

        for (int i = 0; i < figs.Count; i++)
        {
            var f = figs[i];
            double r = f.Ratio!.Value;
            double y = top + (i * rowH);
            double x0 = X(1), x1 = X(r);
            bool better = f.LowerIsBetter ? r <= 1 : r >= 1;
            string colour = better ? "#3a3" : "#c33";
            sb.Append(inv, $"<text x=\"{left - 6}\" y=\"{y + 14}\" text-anchor=\"end\">{Esc(f.Name)} ({(f.LowerIsBetter ? "lower" : "higher")} better)</text>\n");
            sb.Append(inv, $"<rect x=\"{Math.Min(x0, x1):F1}\" y=\"{y + 3}\" width=\"{Math.Max(1, Math.Abs(x1 - x0)):F1}\" height=\"{rowH - 6}\" fill=\"{colour}\"/>\n");
            sb.Append(inv, $"<text x=\"{Math.Max(x0, x1) + 4:F1}\" y=\"{y + 14}\">{r.ToString("0.##", inv)}×</text>\n");
        }

        sb.Append("</svg>\n");
        return sb.ToString();
    }

    private static string Esc(string s) => s.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal).Replace(">", "&gt;", StringComparison.Ordinal);
}
