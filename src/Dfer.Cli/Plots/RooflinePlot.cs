using System.Globalization;
using Dfer.Runtime;
using ScottPlot;

namespace Dfer.Cli.Plots;

/// <summary>
/// Draws a profile's roofline: log-log axes of arithmetic intensity (FLOP/byte) against GFLOP/s,
/// the device's bandwidth slope and compute roof with their values, and one point per layer (area
/// by time, colour by op), the six slowest labelled. Layers sit by the FLOPs their kernels execute
/// (<see cref="LayerProfile.ExecutedFlops"/>), so a point shows how close the kernel is to the machine. SVG or PNG
/// by the file's extension (<see cref="PlotFile"/>). ScottPlot's axes are linear, so the plot holds log10 of each
/// value and the ticks name the decades.
/// </summary>
internal static class RooflinePlot
{
    public const int Width = 900, Height = 560;

    /// <summary>How many of the slowest layers carry their name.</summary>
    public const int Labelled = 6;

    public const string RoofColour = "#c0392b";

    public static void Write(string path, ProfileResult profile)
        => PlotFile.Save(Draw(profile), path, Width, Height, "plot");

    /// <summary>The layers drawn: those that do work and take time.</summary>
    public static List<LayerProfile> Points(ProfileResult profile) =>
        profile.Layers.Where(l => l.ExecutedFlops > 0 && l.Bytes > 0 && l.Ms > 0).ToList();

    public static Plot Draw(ProfileResult profile)
    {
        var layers = Points(profile);
        DevicePeaks peaks = profile.Peaks;
        // Axis ranges: decades around the layers and the roof.
        double xMin = Decade(layers.Select(l => l.Intensity).DefaultIfEmpty(1).Min(), down: true);
        double xMax = Decade(Math.Max(layers.Select(l => l.Intensity).DefaultIfEmpty(10).Max(), peaks.Ridge ?? 1) * 2,
            down: false);
        double yTop = peaks.Gflops ?? layers.Select(l => l.ExecutedGflopsPerS).DefaultIfEmpty(1).Max();
        double yMin = Decade(
            Math.Min(layers.Select(l => l.ExecutedGflopsPerS).DefaultIfEmpty(1).Min(),
                (peaks.GBytesPerS ?? yTop) * xMin),
            down: true);
        double yMax = Decade(yTop * 1.5, down: false);

        var plot = new Plot();
        plot.Font.Set(Fonts.Sans);
        plot.Title($"Roofline: {profile.Model} on {profile.Backend}, batch {profile.Batch}, {profile.Precision} "
            + $"— {profile.Device}\npeaks {peaks.Source}", size: 14);
        plot.XLabel("arithmetic intensity (executed FLOP per byte moved)", size: 12);
        plot.YLabel("executed GFLOP/s", size: 12);
        plot.Axes.Bottom.SetTicks(Decades(xMin, xMax), Decades(xMin, xMax).Select(Num).ToArray());
        plot.Axes.Left.SetTicks(Decades(yMin, yMax), Decades(yMin, yMax).Select(Num).ToArray());
        plot.Axes.SetLimits(Math.Log10(xMin), Math.Log10(xMax), Math.Log10(yMin), Math.Log10(yMax));

        // The roof: min(peak, bandwidth × intensity).
        if (peaks.Gflops is double peak && peaks.GBytesPerS is double bw)
        {
            double ridge = peak / bw;
            double x0 = Math.Max(xMin, yMin / bw);
            var roof = plot.Add.Scatter(new[] { Math.Log10(x0), Math.Log10(ridge), Math.Log10(xMax) },
                new[] { Math.Log10(bw * x0), Math.Log10(peak), Math.Log10(peak) }, Color.FromHex(RoofColour));
            roof.LineWidth = 2;
            roof.MarkerSize = 0;
            Label(plot, $"compute peak {peak:0} GFLOP/s", Math.Log10(ridge), Math.Log10(peak), RoofColour,
                Alignment.UpperLeft, 12);
            Label(plot, $"memory {bw:0.#} GB/s", Math.Log10(x0), Math.Log10(bw * x0), RoofColour, Alignment.LowerLeft,
                12);
        }
        // Layers: area proportional to time; the slowest are labelled.
        double maxMs = layers.Select(l => l.Ms).DefaultIfEmpty(1).Max();
        var labelled = layers.OrderByDescending(l => l.Ms).Take(Labelled).ToHashSet();
        foreach (LayerProfile l in layers)
        {
            float size = (float)(2 * (3 + 12 * Math.Sqrt(l.Ms / maxMs)));
            Color colour = Color.FromHex(OpColour(l.Op));
            double y = Math.Log10(l.ExecutedGflopsPerS);
            var point = plot.Add.Marker(Math.Log10(l.Intensity), y, MarkerShape.FilledCircle, size,
                colour.WithAlpha(0.55));
            point.MarkerLineColor = colour;
            point.MarkerLineWidth = 1;
            if (labelled.Contains(l))
                Label(plot, l.Name, Math.Log10(l.Intensity), y, "#000000", Alignment.MiddleLeft,
                    10, offsetX: size / 2 + 2);
        }
        return plot;
    }

    /// <summary>Points of an op are drawn in its colour (grey for ops other than these).</summary>
    public static string OpColour(string op)
        => op switch { "conv3d" => "#2e86c1", "lstm" => "#8e44ad", "linear" => "#16a085", _ => "#7f8c8d" };

    private static void Label(Plot plot, string text, double x, double y, string colour, Alignment alignment,
        float size, float offsetX = 4)
    {
        var label = plot.Add.Text(text, x, y);
        label.LabelFontColor = Color.FromHex(colour);
        label.LabelFontSize = size;
        label.LabelAlignment = alignment;
        label.LabelOffsetX = offsetX;
    }

    /// <summary>log10 of every decade from <paramref name="min"/> to <paramref name="max"/>.</summary>
    private static double[] Decades(double min, double max)
    {
        var decades = new List<double>();
        for (double e = Math.Round(Math.Log10(min)); e <= Math.Log10(max) + 1e-9; e++) decades.Add(e);
        return decades.ToArray();
    }

    private static double Decade(double v, bool down)
    {
        if (!(v > 0) || double.IsInfinity(v)) v = 1;
        double e = Math.Log10(v);
        return Math.Pow(10, down ? Math.Floor(e) : Math.Ceiling(e));
    }

    /// <summary>A decade's label from its log10.</summary>
    private static string Num(double log10)
    {
        double v = Math.Pow(10, log10);
        return v >= 1 ? v.ToString("0", CultureInfo.InvariantCulture)
            : v.ToString("0.###", CultureInfo.InvariantCulture);
    }
}
