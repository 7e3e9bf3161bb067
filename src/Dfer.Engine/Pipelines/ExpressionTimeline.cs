using System.Globalization;
using System.Text;
using Dfer.Models;
using SkiaSharp;

namespace Dfer.Pipelines;

/// <summary>
/// Draws an <see cref="ExpressionReport"/> over time: the seven smoothed probabilities per frame
/// (lines broken where no face was found) above a strip marking the frames with a face (green) and
/// without (grey), with a legend and the clip's label. Written as SVG (by hand) or PNG (SkiaSharp)
/// from one list of shapes, so both show the same picture.
/// </summary>
public static class ExpressionTimeline
{
    private const int Width = 960, Height = 420, Left = 60, Right = 150, Top = 40, PlotBottom = 340, StripTop = 356, StripBottom = 372;

    public static readonly string[] Colours = ["#e6a100", "#1f5fbf", "#7f7f7f", "#d62728", "#9467bd", "#2ca02c", "#17becf"];

    private abstract record Shape;
    private sealed record Line(double X0, double Y0, double X1, double Y1, string Colour, double Width) : Shape;
    private sealed record Polyline(IReadOnlyList<(double X, double Y)> Points, string Colour, double Width) : Shape;
    private sealed record Rect(double X, double Y, double W, double H, string Colour) : Shape;
    private sealed record Text(double X, double Y, string Value, double Size, string Colour, bool End = false) : Shape;

    /// <summary>Writes the timeline to <paramref name="path"/>: .svg or .png by extension.</summary>
    /// <exception cref="DferException">Another extension, or the file cannot be written.</exception>
    public static void Write(ExpressionReport report, string path)
    {
        string ext = Path.GetExtension(path).ToLowerInvariant();
        if (ext is not (".svg" or ".png")) throw DferException.ForFile(path, "the timeline is written as .svg or .png");
        var shapes = Draw(report);
        try
        {
            if (ext == ".svg") File.WriteAllText(path, Svg(shapes));
            else File.WriteAllBytes(path, Png(shapes));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw DferException.ForFile(path, $"cannot write the timeline ({e.Message})");
        }
    }

    private static List<Shape> Draw(ExpressionReport r)
    {
        var s = new List<Shape> { new Rect(0, 0, Width, Height, "#ffffff") };
        int n = r.Frames.Count;
        double plotW = Width - Left - Right;
        double X(double frame) => Left + (n <= 1 ? plotW / 2 : frame * plotW / (n - 1));
        double Y(double p) => PlotBottom - p * (PlotBottom - Top);
        for (int i = 0; i <= 4; i++)
        {
            double p = i / 4.0;
            s.Add(new Line(Left, Y(p), Left + plotW, Y(p), "#e0e0e0", 1));
            s.Add(new Text(Left - 8, Y(p) + 4, p.ToString("0.00", CultureInfo.InvariantCulture), 11, "#444444", End: true));
        }
        s.Add(new Line(Left, PlotBottom, Left + plotW, PlotBottom, "#444444", 1));
        s.Add(new Text(Left, 24, $"{Path.GetFileName(r.Input)}: {r.Label} ({r.Probabilities.Max():0.00}), face in {r.FramesWithFace} of {n} frames, window {r.Window}", 14, "#000000"));
        for (int k = 0; k < 7; k++)
        {
            var run = new List<(double, double)>();
            void Flush()
            {
                if (run.Count == 1) s.Add(new Rect(run[0].Item1 - 1.5, run[0].Item2 - 1.5, 3, 3, Colours[k]));
                else if (run.Count > 1) s.Add(new Polyline(run.ToArray(), Colours[k], 2));
                run.Clear();
            }
            foreach (var f in r.Frames)
            {
                if (f.Smoothed is null) { Flush(); continue; }
                run.Add((X(f.Index), Y(f.Smoothed[k])));
            }
            Flush();
            double ly = Top + 10 + k * 20;
            s.Add(new Line(Width - Right + 16, ly, Width - Right + 36, ly, Colours[k], 3));
            s.Add(new Text(Width - Right + 42, ly + 4, $"{EmotionClasses.Seven[k]} {r.Probabilities[k]:0.00}", 12, "#000000"));
        }
        double cell = n <= 1 ? plotW : plotW / (n - 1);
        foreach (var f in r.Frames)
        {
            double x = n <= 1 ? Left : X(f.Index) - cell / 2;
            double x0 = Math.Max(Left, x), x1 = Math.Min(Left + plotW, x + cell);
            s.Add(new Rect(x0, StripTop, Math.Max(0.5, x1 - x0), StripBottom - StripTop, f.Face is null ? "#bbbbbb" : "#3c9d3c"));
        }
        s.Add(new Text(Left - 8, StripBottom - 3, "face", 11, "#444444", End: true));
        string At(int frame) => r.Fps is double fps ? $"frame {frame} ({(frame / fps).ToString("0.00", CultureInfo.InvariantCulture)} s)" : $"frame {frame}";
        s.Add(new Text(Left, StripBottom + 20, At(0), 11, "#444444"));
        s.Add(new Text(Left + plotW, StripBottom + 20, At(Math.Max(0, n - 1)), 11, "#444444", End: true));
        s.Add(new Text(Left + plotW / 2, StripBottom + 20, "green: face found, grey: no face (not scored)", 11, "#444444"));
        return s;
    }

    private static string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

    private static string Svg(List<Shape> shapes)
    {
        var b = new StringBuilder();
        b.Append($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" font-family=\"sans-serif\">\n");
        foreach (var shape in shapes)
        {
            switch (shape)
            {
                case Line l: b.Append($"<line x1=\"{F(l.X0)}\" y1=\"{F(l.Y0)}\" x2=\"{F(l.X1)}\" y2=\"{F(l.Y1)}\" stroke=\"{l.Colour}\" stroke-width=\"{F(l.Width)}\"/>\n"); break;
                case Polyline p: b.Append($"<polyline fill=\"none\" stroke=\"{p.Colour}\" stroke-width=\"{F(p.Width)}\" points=\"{string.Join(" ", p.Points.Select(q => $"{F(q.X)},{F(q.Y)}"))}\"/>\n"); break;
                case Rect r: b.Append($"<rect x=\"{F(r.X)}\" y=\"{F(r.Y)}\" width=\"{F(r.W)}\" height=\"{F(r.H)}\" fill=\"{r.Colour}\"/>\n"); break;
                case Text t:
                    string esc = t.Value.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;");
                    b.Append($"<text x=\"{F(t.X)}\" y=\"{F(t.Y)}\" font-size=\"{F(t.Size)}\" fill=\"{t.Colour}\"{(t.End ? " text-anchor=\"end\"" : "")}>{esc}</text>\n");
                    break;
            }
        }
        b.Append("</svg>\n");
        return b.ToString();
    }

    private static byte[] Png(List<Shape> shapes)
    {
        using var surface = SKSurface.Create(new SKImageInfo(Width, Height));
        var canvas = surface.Canvas;
        using var font = new SKFont(SKTypeface.Default, 12);
        foreach (var shape in shapes)
        {
            switch (shape)
            {
                case Line l:
                    using (var paint = new SKPaint { Color = SKColor.Parse(l.Colour), StrokeWidth = (float)l.Width, IsAntialias = true, Style = SKPaintStyle.Stroke })
                        canvas.DrawLine((float)l.X0, (float)l.Y0, (float)l.X1, (float)l.Y1, paint);
                    break;
                case Polyline p:
                    using (var paint = new SKPaint { Color = SKColor.Parse(p.Colour), StrokeWidth = (float)p.Width, IsAntialias = true, Style = SKPaintStyle.Stroke })
                    using (var path = new SKPath())
                    {
                        path.MoveTo((float)p.Points[0].X, (float)p.Points[0].Y);
                        foreach (var q in p.Points.Skip(1)) path.LineTo((float)q.X, (float)q.Y);
                        canvas.DrawPath(path, paint);
                    }
                    break;
                case Rect r:
                    using (var paint = new SKPaint { Color = SKColor.Parse(r.Colour), Style = SKPaintStyle.Fill })
                        canvas.DrawRect((float)r.X, (float)r.Y, (float)r.W, (float)r.H, paint);
                    break;
                case Text t:
                    font.Size = (float)t.Size;
                    using (var paint = new SKPaint { Color = SKColor.Parse(t.Colour), IsAntialias = true })
                        canvas.DrawText(t.Value, (float)t.X, (float)t.Y, t.End ? SKTextAlign.Right : SKTextAlign.Left, font, paint);
                    break;
            }
        }
        using var image = surface.Snapshot();
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }
}
