using System.Globalization;
using System.Security;
using System.Text;
using Dfer.Runtime;

namespace Dfer.Cli.Profiling;

/// <summary>
/// Draws a roofline as a standalone SVG: log-log axes of arithmetic intensity (FLOP/byte) against
/// GFLOP/s, the bandwidth slope and the compute roof of the device, and one point per layer (area
/// by time), labelled for the layers that take the most time. Hand-written: an SVG of lines, circles
/// and text needs no plotting library.
/// </summary>
internal static class RooflineSvg
{
    private const double Width = 900, Height = 560, Left = 80, Right = 30, Top = 50, Bottom = 60;

    public static void Write(string path, ProfileResult profile)
    {
        try
        {
            File.WriteAllText(path, Render(profile), new UTF8Encoding(false));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw DferException.ForFile(path, $"cannot write the plot: {ex.Message}");
        }
    }

    public static string Render(ProfileResult profile)
    {
        var layers = profile.Layers.Where(l => l.Flops > 0 && l.Bytes > 0 && l.Ms > 0).ToList();
        DevicePeaks peaks = profile.Peaks;
        // Axis ranges: decades around the layers and the roof.
        double xMin = Decade(layers.Select(l => l.Intensity).DefaultIfEmpty(1).Min(), down: true);
        double xMax = Decade(Math.Max(layers.Select(l => l.Intensity).DefaultIfEmpty(10).Max(), peaks.Ridge ?? 1) * 2, down: false);
        double yTop = peaks.Gflops ?? layers.Select(l => l.GflopsPerS).DefaultIfEmpty(1).Max();
        double yMin = Decade(Math.Min(layers.Select(l => l.GflopsPerS).DefaultIfEmpty(1).Min(), (peaks.GBytesPerS ?? yTop) * xMin), down: true);
        double yMax = Decade(yTop * 1.5, down: false);
        double X(double v) => Left + (Math.Log10(v) - Math.Log10(xMin)) / (Math.Log10(xMax) - Math.Log10(xMin)) * (Width - Left - Right);
        double Y(double v) => Height - Bottom - (Math.Log10(v) - Math.Log10(yMin)) / (Math.Log10(yMax) - Math.Log10(yMin)) * (Height - Top - Bottom);

        var svg = new StringBuilder();
        svg.AppendLine(F($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" font-family=\"sans-serif\" font-size=\"12\">"));
        svg.AppendLine("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
        svg.AppendLine(F($"<text x=\"{Left}\" y=\"24\" font-size=\"15\">{Esc($"Roofline: {profile.Model} on {profile.Backend}, batch {profile.Batch}, {profile.Precision} — {profile.Device}")}</text>"));
        svg.AppendLine(F($"<text x=\"{Left}\" y=\"40\" fill=\"#555\">{Esc("peaks " + peaks.Source)}</text>"));
        // Grid and axes: one line per decade.
        for (double v = xMin; v <= xMax * 1.0001; v *= 10)
        {
            svg.AppendLine(F($"<line x1=\"{X(v):0.#}\" y1=\"{Top}\" x2=\"{X(v):0.#}\" y2=\"{Height - Bottom}\" stroke=\"#eee\"/>"));
            svg.AppendLine(F($"<text x=\"{X(v):0.#}\" y=\"{Height - Bottom + 16}\" text-anchor=\"middle\">{Num(v)}</text>"));
        }
        for (double v = yMin; v <= yMax * 1.0001; v *= 10)
        {
            svg.AppendLine(F($"<line x1=\"{Left}\" y1=\"{Y(v):0.#}\" x2=\"{Width - Right}\" y2=\"{Y(v):0.#}\" stroke=\"#eee\"/>"));
            svg.AppendLine(F($"<text x=\"{Left - 6}\" y=\"{Y(v) + 4:0.#}\" text-anchor=\"end\">{Num(v)}</text>"));
        }
        svg.AppendLine(F($"<text x=\"{(Left + Width - Right) / 2}\" y=\"{Height - 18}\" text-anchor=\"middle\">arithmetic intensity (FLOP per byte moved)</text>"));
        svg.AppendLine(F($"<text transform=\"translate(20 {(Top + Height - Bottom) / 2}) rotate(-90)\" text-anchor=\"middle\">GFLOP/s</text>"));
        // The roof: min(peak, bandwidth × intensity).
        if (peaks.Gflops is double peak && peaks.GBytesPerS is double bw)
        {
            double ridge = peak / bw;
            double x0 = Math.Max(xMin, yMin / bw);
            svg.AppendLine(F($"<polyline fill=\"none\" stroke=\"#c0392b\" stroke-width=\"2\" points=\"{X(x0):0.#},{Y(bw * x0):0.#} {X(ridge):0.#},{Y(peak):0.#} {X(xMax):0.#},{Y(peak):0.#}\"/>"));
            svg.AppendLine(F($"<text x=\"{X(ridge) + 4:0.#}\" y=\"{Y(peak) + 16:0.#}\" fill=\"#c0392b\">{Esc($"compute peak {peak:0} GFLOP/s")}</text>"));
            svg.AppendLine(F($"<text x=\"{X(x0) + 6:0.#}\" y=\"{Y(bw * x0) - 8:0.#}\" fill=\"#c0392b\">{Esc($"memory {bw:0.#} GB/s")}</text>"));
        }
        // Layers: area proportional to time; the ten slowest are labelled.
        double maxMs = layers.Select(l => l.Ms).DefaultIfEmpty(1).Max();
        var labelled = layers.OrderByDescending(l => l.Ms).Take(6).ToHashSet();
        foreach (LayerProfile l in layers)
        {
            double r = 3 + 12 * Math.Sqrt(l.Ms / maxMs);
            string color = l.Op switch { "conv3d" => "#2e86c1", "lstm" => "#8e44ad", "linear" => "#16a085", _ => "#7f8c8d" };
            svg.AppendLine(F($"<circle cx=\"{X(l.Intensity):0.#}\" cy=\"{Y(l.GflopsPerS):0.#}\" r=\"{r:0.#}\" fill=\"{color}\" fill-opacity=\"0.55\" stroke=\"{color}\"><title>{Esc($"{l.Name} ({l.Op}): {l.Ms:0.###} ms, {l.GflopsPerS:0.#} GFLOP/s, {l.Intensity:0.#} FLOP/B")}</title></circle>"));
            if (labelled.Contains(l))
                svg.AppendLine(F($"<text x=\"{X(l.Intensity) + r + 2:0.#}\" y=\"{Y(l.GflopsPerS) + 4:0.#}\" font-size=\"10\">{Esc(l.Name)}</text>"));
        }
        svg.AppendLine("</svg>");
        return svg.ToString();
    }

    private static double Decade(double v, bool down)
    {
        if (!(v > 0) || double.IsInfinity(v)) v = 1;
        double e = Math.Log10(v);
        return Math.Pow(10, down ? Math.Floor(e) : Math.Ceiling(e));
    }

    private static string Num(double v) => v >= 1 ? v.ToString("0", CultureInfo.InvariantCulture) : v.ToString("0.###", CultureInfo.InvariantCulture);

    private static string Esc(string text) => SecurityElement.Escape(text) ?? "";

    private static string F(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
