using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;

namespace Dfer.Pipelines;

/// <summary>A video file's average frame rate as <c>ffprobe</c> reports it (<c>avg_frame_rate</c>), for
/// timestamps.</summary>
public static class FrameRate
{
    /// <summary>Frames per second of <paramref name="path"/>'s first video stream; null when unknown (no ffprobe, no
    /// rate recorded, 0/0).</summary>
    public static double? Probe(string path)
    {
        var info = new ProcessStartInfo("ffprobe")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false
        };
        foreach (string a in new[] { "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=avg_frame_rate",
            "-of", "csv=p=0", path })
            info.ArgumentList.Add(a);
        try
        {
            using var p = Process.Start(info);
            if (p is null) return null;
            var err = p.StandardError.ReadToEndAsync();
            string text = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit();
            _ = err.Result;
            return p.ExitCode == 0 ? Parse(text) : null;
        }
        catch (Win32Exception) { return null; }
    }

    /// <summary>"num/den" or a plain number → frames per second; null for 0/0, non-positive or unparsable
    /// text.</summary>
    public static double? Parse(string text)
    {
        string[] parts = text.Split('/');
        if (parts.Length == 2
            && double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double num)
            && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double den))
            return den > 0 && num > 0 ? num / den : null;
        return parts.Length == 1
            && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v > 0 ? v
            : null;
    }
}
