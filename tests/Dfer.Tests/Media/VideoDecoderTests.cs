using Dfer.Media;
using Dfer.Tests.Weights;

namespace Dfer.Tests.Media;

/// <summary>Video files through ffmpeg; Ignored, with the reason, where ffmpeg is not installed.</summary>
[TestFixture]
public class VideoDecoderTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp()
    {
        Ffmpeg.Require();
        _dir = new TempDir();
    }

    [TearDown]
    public void TearDown() => _dir?.Dispose();

    /// <summary>Distinct, noisy frames so that a dropped, duplicated or reordered frame shows.</summary>
    private static List<RgbImage> MakeFrames(int count, int width, int height)
    {
        var rng = TestSeed.Random(1234);
        var frames = new List<RgbImage>();
        for (int k = 0; k < count; k++)
        {
            var px = new byte[width * height * 3];
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                {
                    int i = (y * width + x) * 3;
                    px[i] = (byte)(x * 4 + k * 9);
                    px[i + 1] = (byte)(y * 5 + k * 3);
                    px[i + 2] = (byte)rng.Next(256);
                }
            frames.Add(new RgbImage(width, height, px));
        }
        return frames;
    }

    [Test]
    public void LosslessVideoRoundTripsExactly()
    {
        List<RgbImage> frames = MakeFrames(37, 64, 48);
        string path = _dir.PathOf("clip.mkv");
        Ffmpeg.Encode(path, frames, "-c:v", "ffv1", "-pix_fmt", "bgr0");

        VideoDecoder video = VideoDecoder.Read(path, f => f);

        Assert.That(video.Count, Is.EqualTo(37));
        for (int k = 0; k < frames.Count; k++)
            MediaFixtures.AssertSameImage(frames[k], video.Prepared(k), $"frame {k}");
    }

    [Test]
    public void OverTheRawBudgetFramesArePreparedAsTheyArrive()
    {
        List<RgbImage> frames = MakeFrames(10, 64, 48);
        string path = _dir.PathOf("clip.mkv");
        Ffmpeg.Encode(path, frames, "-c:v", "ffv1", "-pix_fmt", "bgr0");
        int calls = 0;
        RgbImage Shrink(RgbImage f) { calls++; return PilResize.Resize(f, 16, 12, ResizeFilter.Bilinear); }

        VideoDecoder video = VideoDecoder.Read(path, Shrink, rawBudgetBytes: 3 * 64 * 48 * 3);

        Assert.That(calls, Is.EqualTo(10), "past three frames every frame is shrunk on arrival");
        for (int k = 0; k < frames.Count; k++)
        {
            MediaFixtures.AssertSameImage(PilResize.Resize(frames[k], 16, 12, ResizeFilter.Bilinear), video.Prepared(k),
                $"frame {k}");
        }
        Assert.That(calls, Is.EqualTo(10), "no frame is shrunk twice");
    }

    [Test]
    public void AVideoGivesTheSameClipsAsItsFramesAsAFolder()
    {
        List<RgbImage> frames = MakeFrames(35, 80, 60);
        string video = _dir.PathOf("clip.mkv");
        Ffmpeg.Encode(video, frames, "-c:v", "ffv1", "-pix_fmt", "bgr0");
        string folder = _dir.PathOf("frames");
        MediaInputTests.WritePngFolder(folder, frames);

        foreach (ClipProtocol protocol in new[] { MediaInputTests.M3dfel, MediaInputTests.Ifdd })
        {
            float[][] fromVideo = MediaInput.ReadClips(video, protocol);
            float[][] fromFolder = MediaInput.ReadClips(folder, protocol);
            Assert.That(fromVideo, Has.Length.EqualTo(protocol.Sampling == FrameSampling.Windows ? 2 : 1));
            Assert.That(fromVideo, Is.EqualTo(fromFolder), protocol.ToString());
        }
        Assert.That(MediaInput.ReadClips(video, MediaInputTests.M3dfel, 7)[0],
            Is.EqualTo(MediaInput.ReadClips(folder, MediaInputTests.M3dfel, 7)[0]), "jittered");
    }

    [Test]
    public void Mp4DecodesEveryFrameWithSmallError()
    {
        List<RgbImage> frames = MakeFrames(30, 64, 48);
        // Smooth frames: yuv420p subsampling would turn per-pixel noise into large errors.
        foreach (RgbImage f in frames)
            for (int i = 2; i < f.Pixels.Length; i += 3) f.Pixels[i] = 128;
        string path = _dir.PathOf("clip.mp4");
        Ffmpeg.Encode(path, frames, "-c:v", "mpeg4", "-q:v", "2", "-pix_fmt", "yuv420p");

        VideoDecoder video = VideoDecoder.Read(path, f => f);

        Assert.That(video.Count, Is.EqualTo(30));
        double total = 0;
        for (int k = 0; k < frames.Count; k++)
        {
            byte[] a = frames[k].Pixels, b = video.Prepared(k).Pixels;
            double sum = 0;
            for (int i = 0; i < a.Length; i++) sum += Math.Abs(a[i] - b[i]);
            total += sum / a.Length;
        }
        double mean = total / frames.Count;
        TestContext.Out.WriteLine($"mpeg4 yuv420p mean |diff| = {mean:F2}");
        Assert.That(mean, Is.LessThan(6.0));
    }

    [Test]
    public void GarbageNamedMp4IsAOneLineError()
    {
        string path = _dir.PathOf("garbage.mp4");
        File.WriteAllBytes(path, Enumerable.Range(0, 5000).Select(i => (byte)(i * 7919 % 256)).ToArray());
        WeightsAssert.FailsWith(path, "cannot decode video", () => MediaInput.ReadClips(path, MediaInputTests.M3dfel));
    }

    [Test]
    public void MissingVideoIsAnError()
    {
        string path = _dir.PathOf("absent.mp4");
        WeightsAssert.FailsWith(path, "no such file", () => MediaInput.ReadClips(path, MediaInputTests.M3dfel));
    }

    [Test]
    public void AudioOnlyFileIsAnError()
    {
        string path = _dir.PathOf("sound.mkv");
        RunFfmpeg("-f", "lavfi", "-i", "anullsrc=d=0.2", "-c:a", "pcm_s16le", path);
        WeightsAssert.FailsWith(path,
            "cannot decode video: no video stream (ffprobe found: audio pcm_s16le in a matroska,webm container)",
            () => MediaInput.ReadClips(path, MediaInputTests.M3dfel));
    }

    [Test]
    public void AacAudioNamedMp4SaysWhatItHolds()
    {
        string path = _dir.PathOf("sound.mp4");
        RunFfmpeg("-f", "lavfi", "-i", "sine=d=0.2", "-c:a", "aac", path);
        WeightsAssert.FailsWith(path,
            "no video stream (ffprobe found: audio aac in a mov,mp4,m4a,3gp,3g2,mj2 container)",
            () => MediaInput.ReadClips(path, MediaInputTests.M3dfel));
    }

    [Test]
    public void MpegTransportStreamNamedMp4Decodes()
    {
        // ffprobe lists a transport stream's streams twice (under its programs too), which the old
        // CSV probe misread as "no video stream".
        string path = _dir.PathOf("broadcast.mp4");
        RunFfmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:d=1", "-f", "lavfi", "-i", "sine=d=1",
            "-c:v", "mpeg2video", "-c:a", "mp2", "-f", "mpegts", path);
        VideoDecoder video = VideoDecoder.Read(path, f => f);
        Assert.That(video.Count, Is.EqualTo(10));
        Assert.That((video.Prepared(0).Width, video.Prepared(0).Height), Is.EqualTo((64, 48)));
        Assert.That(MediaInput.ReadClips(path, MediaInputTests.M3dfel), Has.Length.EqualTo(1));
    }

    [Test]
    public void FramesBeyondTheFrameLimitAreRefused()
    {
        List<RgbImage> frames = MakeFrames(10, 16, 12);
        string path = _dir.PathOf("ten.mkv");
        Ffmpeg.Encode(path, frames, "-c:v", "ffv1", "-pix_fmt", "bgr0");

        Assert.That(VideoDecoder.Read(path, f => f, maxFrames: 10).Count, Is.EqualTo(10), "exactly at the limit");
        WeightsAssert.FailsWith(path,
            "video has more than Dfer's limit of 9 frames; cut it shorter (e.g. ffmpeg -i IN -frames:v 9 OUT)",
            () => VideoDecoder.Read(path, f => f, maxFrames: 9));
    }

    [Test]
    public void FramesBeyondTheMemoryLimitAreRefused()
    {
        List<RgbImage> frames = MakeFrames(10, 16, 12);
        string path = _dir.PathOf("ten.mkv");
        Ffmpeg.Encode(path, frames, "-c:v", "ffv1", "-pix_fmt", "bgr0");
        const int frameBytes = 16 * 12 * 3;

        Assert.That(VideoDecoder.Read(path, f => f, long.MaxValue, maxBytes: 10 * frameBytes).Count, Is.EqualTo(10),
            "exactly at the limit");
        WeightsAssert.FailsWith(path,
            "video's frames would take more than Dfer's limit of 5759 bytes in memory after 9 frames of 16x12; cut it "
            + "shorter or scale it down",
            () => VideoDecoder.Read(path, f => f, long.MaxValue, maxBytes: 10 * frameBytes - 1));
        // Prepared frames count at their prepared size: shrunk to 4×3 on arrival, the tenth raw frame
        // arrives beside nine 36-byte ones.
        RgbImage Shrink(RgbImage f) => PilResize.Resize(f, 4, 3, ResizeFilter.Bilinear);
        Assert.That(VideoDecoder.Read(path, Shrink, rawBudgetBytes: 0, maxBytes: frameBytes + 9 * 4 * 3 * 3).Count,
            Is.EqualTo(10));
        WeightsAssert.FailsWith(path, "more than Dfer's limit of 899 bytes in memory after 9 frames",
            () => VideoDecoder.Read(path, Shrink, rawBudgetBytes: 0, maxBytes: frameBytes + 9 * 4 * 3 * 3 - 1));
    }

    private static void RunFfmpeg(params string[] args)
    {
        var p = System.Diagnostics.Process.Start("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", .. args])!;
        p.WaitForExit();
        Assert.That(p.ExitCode, Is.Zero, "ffmpeg " + string.Join(' ', args));
    }
}
