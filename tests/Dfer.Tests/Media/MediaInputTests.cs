using System.Globalization;
using System.Text.Json;
using Dfer.Media;
using Dfer.Tests.Weights;
using SkiaSharp;

namespace Dfer.Tests.Media;

[TestFixture]
public class MediaInputTests
{
    internal static readonly ClipProtocol M3dfel =
        new(16, 112, ResizeFilter.Bilinear, ClipLayout.TimeChannel, FrameSampling.Spread);
    internal static readonly ClipProtocol Ifdd =
        new(16, 224, ResizeFilter.Bicubic, ClipLayout.ChannelTime, FrameSampling.Windows);

    private TempDir _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDir();

    [TearDown]
    public void TearDown() => _dir.Dispose();

    private static string Frames => MediaFixtures.PathOf("frames");

    private static void AssertExactly(float[] expected, float[] actual)
    {
        Assert.That(actual.Length, Is.EqualTo(expected.Length));
        int bad = Enumerable.Range(0, expected.Length).FirstOrDefault(i => expected[i] != actual[i], -1);
        Assert.That(bad, Is.EqualTo(-1), bad < 0 ? "" : $"element {bad}: expected {expected[bad]}, got {actual[bad]}");
    }

    private static int[] PythonJitter(long seed, int n)
    {
        JsonElement doc = JsonDocument.Parse(File.ReadAllText(MediaFixtures.PathOf("sampling.json"))).RootElement;
        JsonElement c = doc.GetProperty("jitter").EnumerateArray().Single(e =>
            long.Parse(e.GetProperty("seed").GetRawText(), CultureInfo.InvariantCulture) == seed
            && e.GetProperty("n").GetInt32() == n);
        return c.GetProperty("indices").EnumerateArray().Select(e => e.GetInt32()).ToArray();
    }

    [Test]
    public void M3dfelClipOfAFrameFolderEqualsThePillowPipeline()
    {
        RgbImage[] resized = MediaFixtures.ExpectedResized();
        Assert.That(resized, Has.Length.EqualTo(20));
        float[][] clips = MediaInput.ReadClips(Frames, M3dfel);
        Assert.That(clips, Has.Length.EqualTo(1));
        Assert.That(clips[0], Has.Length.EqualTo(M3dfel.ClipElements));
        // int(20*i/16) for i = 0..15
        int[] picks = Enumerable.Range(0, 16).Select(i => 20 * i / 16).ToArray();
        AssertExactly(MediaFixtures.TimeChannel(picks.Select(i => resized[i]).ToArray()), clips[0]);
    }

    [Test]
    public void EveryFixtureFrameResizesLikePillow()
    {
        RgbImage[] resized = MediaFixtures.ExpectedResized();
        string[] files = Directory.GetFiles(Frames).Order(StringComparer.Ordinal).ToArray();
        Assert.That(files, Has.Length.EqualTo(resized.Length), "frames/ holds only the frames");
        for (int k = 0; k < files.Length; k++)
        {
            MediaFixtures.AssertSameImage(resized[k],
                ClipBuilder.Prepare(ImageDecoder.Decode(files[k]), M3dfel, files[k]), Path.GetFileName(files[k]));
        }
    }

    [Test]
    public void FewerFramesThanTheClipRepeatFrames()
    {
        string folder = Directory.CreateDirectory(_dir.PathOf("seven")).FullName;
        string[] files = Directory.GetFiles(Frames, "*.jpg").Order(StringComparer.Ordinal).Take(7).ToArray();
        foreach (string f in files) File.Copy(f, Path.Combine(folder, Path.GetFileName(f)));
        RgbImage[] resized = MediaFixtures.ExpectedResized();

        float[] clip = MediaInput.ReadClips(folder, M3dfel).Single();

        int[] picks = Enumerable.Range(0, 16).Select(i => 7 * i / 16).ToArray();
        Assert.That(picks.Distinct().Count(), Is.EqualTo(7));
        AssertExactly(MediaFixtures.TimeChannel(picks.Select(i => resized[i]).ToArray()), clip);
    }

    [TestCase(0L)]
    [TestCase(42L)]
    [TestCase(4294967303L)]
    public void JitteredClipPicksThePythonFrames(long seed)
    {
        RgbImage[] resized = MediaFixtures.ExpectedResized();
        int[] picks = PythonJitter(seed, 20);
        float[] clip = MediaInput.ReadClips(Frames, M3dfel, seed).Single();
        TestContext.Out.WriteLine("python picks: " + string.Join(",", picks));
        AssertExactly(MediaFixtures.TimeChannel(picks.Select(i => resized[i]).ToArray()), clip);
        Assert.That(picks, Is.Not.EqualTo(Enumerable.Range(0, 16).Select(i => 20 * i / 16)),
            "the jitter moved something");
    }

    [Test]
    public void IfddWindowsAreConsecutiveChannelFirstClips()
    {
        // 224×224 frames with a 224 bicubic resize: the resize is Pillow's identity, so the clip is the decoded
        // frames.
        float[][] clips = MediaInput.ReadClips(Frames, Ifdd);
        Assert.That(clips, Has.Length.EqualTo(1), "20 frames make one complete window");
        string[] files = Directory.GetFiles(Frames, "*.jpg").Order(StringComparer.Ordinal).ToArray();
        float[] clip = clips[0];
        int plane = 224 * 224;
        for (int t = 0; t < 16; t += 5)
        {
            byte[] px = ImageDecoder.Decode(files[t]).Pixels;
            for (int c = 0; c < 3; c++)
                for (int p = 0; p < plane; p += 97)
                    Assert.That(clip[(c * 16 + t) * plane + p], Is.EqualTo(px[p * 3 + c] / 255f), $"t {t} c {c} p {p}");
        }
    }

    [Test]
    public void IfddNeedsSixteenFrames()
    {
        string folder = Directory.CreateDirectory(_dir.PathOf("few")).FullName;
        foreach (string f in Directory.GetFiles(Frames, "*.jpg").Take(15))
            File.Copy(f, Path.Combine(folder, Path.GetFileName(f)));
        WeightsAssert.FailsWith(folder, "needs at least 16 frames", () => MediaInput.ReadClips(folder, Ifdd));
    }

    /// <summary>Non-square frames: torchvision's Resize(112) to 178×112, then CenterCrop(112) at left = round(66/2) =
    /// 33.</summary>
    [Test]
    public void NonSquareFramesAreResizedThenCenterCropped()
    {
        string folder = Directory.CreateDirectory(_dir.PathOf("wide")).FullName;
        File.Copy(MediaFixtures.PathOf("resize", "src_97x61.png"), Path.Combine(folder, "1.png"));
        RgbImage pillow = MediaFixtures.ReadRgbNpy(MediaFixtures.PathOf("resize", "src_97x61_to_178x112_bilinear.npy"));
        RgbImage cropped = ClipBuilder.CenterCrop(pillow, 112);
        Assert.That(cropped.Pixels.AsSpan(0, 3).ToArray(), Is.EqualTo(pillow.Pixels.AsSpan(33 * 3, 3).ToArray()));

        float[] clip = MediaInput.ReadClips(folder, M3dfel).Single();

        AssertExactly(MediaFixtures.TimeChannel(Enumerable.Repeat(cropped, 16).ToArray()), clip);
    }

    [Test]
    public void CenterCropRoundsHalfToEven()
    {
        // (115 - 112) / 2 = 1.5 -> 2; (113 - 112) / 2 = 0.5 -> 0, as Python's round.
        var img = new RgbImage(113, 115, Enumerable.Range(0, 113 * 115 * 3).Select(i => (byte)(i / 3 % 251)).ToArray());
        RgbImage c = ClipBuilder.CenterCrop(img, 112);
        Assert.That(c.Pixels[0], Is.EqualTo(img.Pixels[(2 * 113 + 0) * 3]));
        Assert.That(ClipBuilder.ResizedSize(97, 61, 112), Is.EqualTo((178, 112)));
        Assert.That(ClipBuilder.ResizedSize(61, 97, 112), Is.EqualTo((112, 178)));
    }

    [Test]
    public void FramesAreOrderedByTheNumberInTheirName()
    {
        string[] names = ["frame10.png", "frame9.png", "frame010.jpg", "a.png", "x_2_100.JPG", "frame1.jpeg"];
        string[] sorted = names.Order(Comparer<string>.Create(FrameFolder.CompareFrameNames)).ToArray();
        Assert.That(sorted,
            Is.EqualTo(new[] { "a.png", "frame1.jpeg", "frame9.png", "frame010.jpg", "frame10.png", "x_2_100.JPG" }));
    }

    [Test]
    public void OtherFilesInTheFolderAreIgnored()
    {
        string folder = Directory.CreateDirectory(_dir.PathOf("mixed")).FullName;
        File.Copy(MediaFixtures.PathOf("frames", "00003.jpg"), Path.Combine(folder, "00003.JPG"));
        File.WriteAllText(Path.Combine(folder, "00001.txt"), "not a frame");
        File.WriteAllText(Path.Combine(folder, "labels.csv"), "x");
        float[] clip = MediaInput.ReadClips(folder, M3dfel).Single();
        AssertExactly(MediaFixtures.TimeChannel(Enumerable.Repeat(MediaFixtures.ExpectedResized()[2], 16).ToArray()),
            clip);
    }

    [Test]
    public void IsVideoInput()
    {
        Assert.That(MediaInput.IsVideoInput(Frames), Is.True);
        Assert.That(MediaInput.IsVideoInput("clip.MP4"), Is.True);
        Assert.That(MediaInput.IsVideoInput("clip.webm"), Is.True);
        Assert.That(MediaInput.IsVideoInput("clip.npy"), Is.False);
        Assert.That(MediaInput.IsVideoInput(MediaFixtures.PathOf("sampling.json")), Is.False);
    }

    [Test]
    public void MissingInputIsAnError()
    {
        string path = _dir.PathOf("nothing-here");
        WeightsAssert.FailsWith(path, "no such file or folder", () => MediaInput.ReadClips(path, M3dfel));
    }

    [Test]
    public void EmptyFolderIsAnError()
    {
        string folder = Directory.CreateDirectory(_dir.PathOf("empty")).FullName;
        WeightsAssert.FailsWith(folder, "empty", () => MediaInput.ReadClips(folder, M3dfel));
    }

    [Test]
    public void FolderWithoutImagesIsAnError()
    {
        string folder = Directory.CreateDirectory(_dir.PathOf("noimages")).FullName;
        File.WriteAllText(Path.Combine(folder, "readme.txt"), "hi");
        WeightsAssert.FailsWith(folder, "no frame images", () => MediaInput.ReadClips(folder, M3dfel));
    }

    [Test]
    public void TruncatedFrameIsAnErrorNamingTheFile()
    {
        string folder = Directory.CreateDirectory(_dir.PathOf("cut")).FullName;
        foreach (string f in Directory.GetFiles(Frames, "*.jpg"))
            File.Copy(f, Path.Combine(folder, Path.GetFileName(f)));
        string victim = Path.Combine(folder, "00001.jpg");
        byte[] bytes = File.ReadAllBytes(victim);
        File.WriteAllBytes(victim, bytes[..(bytes.Length / 3)]);
        WeightsAssert.FailsWith(victim, "image file is truncated", () => MediaInput.ReadClips(folder, M3dfel));
    }

    [Test]
    public void CorruptPngFrameIsAnErrorNamingTheFile()
    {
        string folder = Directory.CreateDirectory(_dir.PathOf("corrupt")).FullName;
        string victim = Path.Combine(folder, "1.png");
        byte[] bytes = File.ReadAllBytes(MediaFixtures.PathOf("decode", "png_rgb_97x61.png"));
        for (int i = 200; i < 600; i++) bytes[i] ^= 0x33;
        File.WriteAllBytes(victim, bytes);
        DferException ex = Assert.Throws<DferException>(() => MediaInput.ReadClips(folder, M3dfel))!;
        Assert.That(ex.Message, Does.StartWith(victim + ": "));
    }

    [Test]
    public void AFileThatIsNotAVideoIsAnError()
    {
        string path = _dir.PathOf("clip.txt");
        File.WriteAllText(path, "x");
        WeightsAssert.FailsWith(path, "not a video", () => MediaInput.ReadClips(path, M3dfel));
    }

    [Test]
    public void JitterWithWindowsIsRefused() =>
        Assert.Throws<ArgumentException>(() => MediaInput.ReadClips(Frames, Ifdd, 1));

    /// <summary>Writes frames as PNGs 00001.png… (lossless, via Skia's encoder).</summary>
    internal static void WritePngFolder(string folder, IReadOnlyList<RgbImage> frames)
    {
        Directory.CreateDirectory(folder);
        for (int k = 0; k < frames.Count; k++)
        {
            RgbImage f = frames[k];
            using var bitmap =
                new SKBitmap(new SKImageInfo(f.Width, f.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
            byte[] rgba = new byte[f.Width * f.Height * 4];
            for (int p = 0; p < f.Width * f.Height; p++)
            {
                rgba[4 * p] = f.Pixels[3 * p];
                rgba[4 * p + 1] = f.Pixels[3 * p + 1];
                rgba[4 * p + 2] = f.Pixels[3 * p + 2];
                rgba[4 * p + 3] = 255;
            }
            System.Runtime.InteropServices.Marshal.Copy(rgba, 0, bitmap.GetPixels(), rgba.Length);
            using SKData png = bitmap.Encode(SKEncodedImageFormat.Png, 100);
            File.WriteAllBytes(Path.Combine(folder, $"{k + 1:00000}.png"), png.ToArray());
        }
    }
}
