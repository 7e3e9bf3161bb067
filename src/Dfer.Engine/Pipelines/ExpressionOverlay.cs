using System.ComponentModel;
using System.Diagnostics;
using Dfer.Faces;
using Dfer.Media;
using SkiaSharp;

namespace Dfer.Pipelines;

/// <summary>
/// Writes the frames of an <see cref="ExpressionReport"/> as an .mp4 (the source's frame rate, else 25/s; H.264 or
/// whatever FFmpeg's mp4 default encoder is) with the tracked face box and its smoothed label drawn, or
/// "no face" on frames without one. Frames are drawn with SkiaSharp and piped to <c>ffmpeg</c> as raw RGB.
/// </summary>
public static class ExpressionOverlay
{
    public static void Write(ExpressionReport report, IReadOnlyList<RgbImage> frames, string path)
    {
        if (frames.Count == 0) throw DferException.ForFile(path, "no frames to write");
        int w = frames[0].Width, h = frames[0].Height;
        var info = new ProcessStartInfo("ffmpeg")
        {
            RedirectStandardInput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in new[] { "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s",
            $"{w}x{h}", "-r", (report.Fps ?? 25).ToString("0.###", System.Globalization.CultureInfo.InvariantCulture),
            "-i", "-",
                     "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-pix_fmt", "yuv420p", path })
            info.ArgumentList.Add(a);
        Process process;
        try { process = Process.Start(info) ?? throw new DferException("ffmpeg did not start"); }
        catch (Win32Exception)
        {
            throw DferException.ForFile(path,
            "the overlay video needs ffmpeg on the PATH (Debian: apt-get install ffmpeg)");
        }
        using var _ = process;
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            using var bitmap = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul));
            using var canvas = new SKCanvas(bitmap);
            using var font = new SKFont(SKTypeface.Default, Math.Max(14, h / 24f));
            using var box = new SKPaint
            {
                Style = SKPaintStyle.Stroke,
                StrokeWidth = Math.Max(2, w / 320f),
                Color = new SKColor(0x3c, 0xd0, 0x3c),
                IsAntialias = true
            };
            using var text = new SKPaint { Color = SKColors.White, IsAntialias = true };
            using var back = new SKPaint { Color = new SKColor(0, 0, 0, 170) };
            var rgb = new byte[w * h * 3];
            var stdin = process.StandardInput.BaseStream;
            for (int i = 0; i < frames.Count; i++)
            {
                var f = frames[i];
                if (f.Width != w || f.Height != h)
                    throw DferException.ForFile(report.Input,
                        $"frame {i} is {f.Width}x{f.Height}, the first was {w}x{h}; an overlay video needs one size");
                unsafe
                {
                    byte* dst = (byte*)bitmap.GetPixels();
                    for (int p = 0; p < w * h; p++)
                    {
                        dst[4 * p] = f.Pixels[3 * p]; dst[4 * p + 1] = f.Pixels[3 * p + 1]; dst[4 * p + 2] =
                            f.Pixels[3 * p + 2]; dst[4 * p + 3] = 255;
                    }
                }
                var r = report.Frames[i];
                string label;
                float lx = 8, ly = font.Size + 8;
                if (r.Face is FaceBox b)
                {
                    canvas.DrawRect((float)b.X0, (float)b.Y0, (float)b.Width, (float)b.Height, box);
                    label = $"{r.Label} {r.Smoothed!.Max():0.00}";
                    lx = (float)b.X0;
                    ly = (float)Math.Max(font.Size + 4, b.Y0 - 6);
                }
                else label = "no face";
                float tw = font.MeasureText(label);
                canvas.DrawRect(lx - 2, ly - font.Size, tw + 6, font.Size + 6, back);
                canvas.DrawText(label, lx + 1, ly, SKTextAlign.Left, font, text);
                canvas.Flush();
                unsafe
                {
                    byte* src = (byte*)bitmap.GetPixels();
                    for (int p = 0; p < w * h; p++)
                    {
                        rgb[3 * p] = src[4 * p]; rgb[3 * p + 1] = src[4 * p + 1]; rgb[3 * p + 2] = src[4 * p + 2];
                    }
                }
                stdin.Write(rgb);
            }
            stdin.Close();
        }
        catch (IOException)
        {
            // ffmpeg closed its input early; its own message follows.
        }
        catch
        {
            try { process.Kill(); } catch (InvalidOperationException) { }
            throw;
        }
        process.WaitForExit();
        string err = stderr.Result.Trim();
        if (process.ExitCode != 0)
            throw DferException.ForFile(path,
                $"ffmpeg could not write the overlay "
                + $"video: {(err.Length > 0 ? err.Split('\n')[^1] : $"exit code {process.ExitCode}")}");
    }
}
