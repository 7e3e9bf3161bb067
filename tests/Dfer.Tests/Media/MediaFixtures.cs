using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Dfer.Media;

namespace Dfer.Tests.Media;

/// <summary>Finds the committed media fixtures (tests/fixtures/media, made once by make_fixtures.py with
/// Pillow).</summary>
internal static partial class MediaFixtures
{
    private static readonly Lazy<string> RootLazy = new(() =>
    {
        for (var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "tests", "fixtures", "media");
            if (File.Exists(Path.Combine(dir.FullName, "Dfer.sln")) && Directory.Exists(candidate)) return candidate;
        }
        throw new InvalidOperationException("tests/fixtures/media not found above "
            + TestContext.CurrentContext.TestDirectory);
    });

    public static string Root => RootLazy.Value;

    public static string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

    /// <summary>Pillow's 112×112 bilinear resize of each of the 20 fixture frames (frames_expected_112.png,
    /// stacked).</summary>
    public static RgbImage[] ExpectedResized()
    {
        RgbImage strip = ImageDecoder.Decode(MediaFixtures.PathOf("frames_expected_112.png"));
        int n = strip.Height / 112, bytes = 112 * 112 * 3;
        return Enumerable.Range(0, n)
            .Select(k => new RgbImage(112, 112, strip.Pixels.AsSpan(k * bytes, bytes).ToArray())).ToArray();
    }

    /// <summary>The [T, 3, H, W] tensor of frames/255f, as torchvision's ToTensor + stack give it.</summary>
    public static float[] TimeChannel(IReadOnlyList<RgbImage> frames)
    {
        int plane = frames[0].Width * frames[0].Height;
        var t = new float[frames.Count * 3 * plane];
        for (int f = 0; f < frames.Count; f++)
            for (int c = 0; c < 3; c++)
                for (int p = 0; p < plane; p++)
                    t[(f * 3 + c) * plane + p] = frames[f].Pixels[p * 3 + c] / 255f;
        return t;
    }

    /// <summary>Reads a uint8 [H, W, 3] .npy written by NumPy.</summary>
    public static RgbImage ReadRgbNpy(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        Assert.That(bytes[0] == 0x93 && Encoding.ASCII.GetString(bytes, 1, 5) == "NUMPY" && bytes[6] == 1,
            "a version 1 .npy");
        int headerLength = bytes[8] | (bytes[9] << 8);
        string header = Encoding.ASCII.GetString(bytes, 10, headerLength);
        Assert.That(header, Does.Contain("'descr': '|u1'"));
        Match m = ShapeRegex().Match(header);
        Assert.That(m.Success, header);
        int h = int.Parse(m.Groups[1].Value), w = int.Parse(m.Groups[2].Value);
        byte[] pixels = bytes.AsSpan(10 + headerLength).ToArray();
        return new RgbImage(w, h, pixels);
    }

    [GeneratedRegex(@"'shape': \((\d+), (\d+), 3\)")]
    private static partial Regex ShapeRegex();

    /// <summary>Index of the first differing byte and the largest absolute difference.</summary>
    public static (int FirstDiff, int MaxDiff) Compare(byte[] expected, byte[] actual)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length), "byte count");
        int first = -1, max = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            int d = Math.Abs(expected[i] - actual[i]);
            if (d > 0 && first < 0) first = i;
            max = Math.Max(max, d);
        }
        return (first, max);
    }

    public static void AssertSameImage(RgbImage expected, RgbImage actual, string what)
    {
        Assert.That((actual.Width, actual.Height), Is.EqualTo((expected.Width, expected.Height)), what + ": size");
        (int first, int max) = Compare(expected.Pixels, actual.Pixels);
        Assert.That(max, Is.Zero, $"{what}: first difference at byte {first}, max |diff| {max}");
    }
}

/// <summary>The FFmpeg tools, when installed; tests that need them are Ignored (with the reason) otherwise.</summary>
internal static class Ffmpeg
{
    private static readonly Lazy<string?> Missing = new(() =>
    {
        foreach (string tool in new[] { "ffmpeg", "ffprobe" })
        {
            try
            {
                using var p = Process.Start(
                    new ProcessStartInfo(tool, "-version")
                    {
                        RedirectStandardOutput = true,
                        RedirectStandardError = true
                    })!;
                p.StandardOutput.ReadToEnd();
                p.StandardError.ReadToEnd();
                p.WaitForExit();
                if (p.ExitCode != 0) return $"{tool} -version failed";
            }
            catch (System.ComponentModel.Win32Exception)
            {
                return $"{tool} is not installed (apt-get install ffmpeg)";
            }
        }
        return null;
    });

    public static void Require()
    {
        if (Missing.Value is string reason) Assert.Ignore(reason);
    }

    /// <summary>Renders <paramref name="frames"/> frames of an FFmpeg source filter (e.g. <c>testsrc=size=320x240</c>)
    /// to <paramref name="output"/> (H.264).</summary>
    public static void Generate(string output, string source, int frames)
    {
        var info = new ProcessStartInfo("ffmpeg") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in new[] { "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source,
            "-frames:v", frames.ToString(System.Globalization.CultureInfo.InvariantCulture), "-c:v", "libx264",
            "-pix_fmt", "yuv420p", output })
            info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        Task<string> err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.That(p.ExitCode, Is.Zero, "ffmpeg lavfi: " + err.Result);
    }

    /// <summary>Encodes raw rgb24 frames with ffmpeg; <paramref name="codecArgs"/> picks the codec.</summary>
    public static void Encode(string output, IReadOnlyList<RgbImage> frames, params string[] codecArgs)
    {
        var info = new ProcessStartInfo("ffmpeg")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        string[] args = ["-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
            "-s", $"{frames[0].Width}x{frames[0].Height}", "-r", "25", "-i", "-", .. codecArgs, output];
        foreach (string a in args) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        Task<string> err = p.StandardError.ReadToEndAsync();
        Task<string> outp = p.StandardOutput.ReadToEndAsync();
        foreach (RgbImage f in frames) p.StandardInput.BaseStream.Write(f.Pixels);
        p.StandardInput.Close();
        p.WaitForExit();
        Assert.That(p.ExitCode, Is.Zero, "ffmpeg encode: " + err.Result + outp.Result);
    }
}
