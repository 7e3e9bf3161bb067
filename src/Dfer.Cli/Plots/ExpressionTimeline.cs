using System.Globalization;
using Dfer.Models;
using Dfer.Pipelines;
using ScottPlot;

namespace Dfer.Cli.Plots;

/// <summary>
/// Draws an <see cref="ExpressionReport"/> over time: the seven aggregated probabilities per frame (the fixed mean's
/// smoothed ones, or the Temporal Encoder's: the title and the axis say which) with lines broken where no face was
/// found and a lone frame as a dot, above a strip marking the frames with a face (green) and without (grey), with a
/// legend of each class's clip probability and the clip's label in the title. SVG or PNG by the file's extension
/// (<see cref="PlotFile"/>).
/// </summary>
internal static class ExpressionTimeline
{
    public const int Width = 960, Height = 420;

    public static readonly string[] Colours =
        ["#e6a100", "#1f5fbf", "#7f7f7f", "#d62728", "#9467bd", "#2ca02c", "#17becf"];

    private const string FaceColour = "#3c9d3c", NoFaceColour = "#bbbbbb";

    // The face strip sits below the probability axis, from StripBottom to StripTop.
    private const double StripBottom = -0.14, StripTop = -0.06;

    /// <summary>Writes the timeline to <paramref name="path"/>: .svg or .png by extension.</summary>
    /// <exception cref="DferException">Another extension, or the file cannot be written.</exception>
    public static void Write(ExpressionReport report, string path)
    {
        if (!PlotFile.IsPlot(path)) throw DferException.ForFile(path, "the timeline is written as .svg or .png");
        PlotFile.Save(Draw(report), path, Width, Height, "timeline");
    }

    public static Plot Draw(ExpressionReport r)
    {
        var plot = new Plot();
        plot.Font.Set(Fonts.Sans);
        int n = r.Frames.Count;
        for (int k = 0; k < 7; k++)
        {
            Color colour = Color.FromHex(Colours[k]);
            bool labelled = false;
            var xs = new List<double>();
            var ys = new List<double>();
            void Flush()
            {
                if (xs.Count == 0) return;
                var run = plot.Add.Scatter(xs.ToArray(), ys.ToArray(), colour);
                run.LineWidth = 2;
                run.MarkerSize = xs.Count == 1 ? 5 : 0;
                if (!labelled) run.LegendText = $"{EmotionClasses.Seven[k]} {Fixed(r.Probabilities[k])}";
                labelled = true;
                xs.Clear();
                ys.Clear();
            }
            foreach (ExpressionFrame f in r.Frames)
            {
                if (f.Aggregated is not float[] p) { Flush(); continue; }
                xs.Add(f.Index);
                ys.Add(p[k]);
            }
            Flush();
            if (!labelled)
            {
                // A class still has its legend entry when no frame had a face to score.
                var entry = plot.Add.Scatter(Array.Empty<double>(), Array.Empty<double>(), colour);
                entry.LegendText = $"{EmotionClasses.Seven[k]} {Fixed(r.Probabilities[k])}";
            }
        }
        // The face strip: one band per run of frames with (or without) a face, each frame a cell centred on it.
        for (int i = 0; i < n;)
        {
            int j = i;
            bool face = r.Frames[i].Face is not null;
            while (j + 1 < n && (r.Frames[j + 1].Face is not null) == face) j++;
            var band = plot.Add.Rectangle(r.Frames[i].Index - 0.5, r.Frames[j].Index + 0.5, StripBottom, StripTop);
            band.FillColor = Color.FromHex(face ? FaceColour : NoFaceColour);
            band.LineWidth = 0;
            i = j + 1;
        }
        plot.Title($"{Path.GetFileName(r.Input)}: {r.Label} ({Fixed(r.Probabilities.Max())}), face "
            + $"in {r.FramesWithFace} of {n} frames, {Aggregation(r)}", size: 14);
        string unit = r.Fps is double fps
            ? string.Create(CultureInfo.InvariantCulture, $"frame (at {fps:0.##} frames/s)") : "frame";
        plot.XLabel($"{unit}; strip: green face found, grey no face (not scored)", size: 12);
        plot.YLabel(r.Temporal is null ? "probability (smoothed)" : "probability (Temporal Encoder)", size: 12);
        double[] ticks = [0, 0.25, 0.5, 0.75, 1, (StripBottom + StripTop) / 2];
        string[] labels = [.. ticks.Take(5).Select(Fixed), "face"];
        plot.Axes.Left.SetTicks(ticks, labels);
        plot.Axes.SetLimits(-0.5, Math.Max(0.5, n - 0.5), StripBottom - 0.02, 1.04);
        plot.Legend.Alignment = Alignment.UpperRight;
        plot.Legend.FontSize = 12;
        plot.ShowLegend(Edge.Right);
        return plot;
    }

    /// <summary>What produced the plotted probabilities, for the title.</summary>
    internal static string Aggregation(ExpressionReport r) => r.Temporal is TemporalEncoder t
        ? string.Create(CultureInfo.InvariantCulture,
            $"Temporal Encoder {Path.GetFileName(t.Source)} (W = {t.Config.Window})")
        : string.Create(CultureInfo.InvariantCulture, $"confidence-weighted mean over {r.Window} frames");

    private static string Fixed(double p) => p.ToString("0.00", CultureInfo.InvariantCulture);
}
