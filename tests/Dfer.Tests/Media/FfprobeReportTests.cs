using Dfer.Media;
using Dfer.Tests.Weights;

namespace Dfer.Tests.Media;

/// <summary>
/// <see cref="VideoDecoder.ParseProbe"/> on ffprobe reports, real and hostile, without running
/// ffprobe: any text gives a sane probe or one DferException line.
/// </summary>
[TestFixture]
public class FfprobeReportTests
{
    private const string Path = "/videos/v.mp4";

    /// <summary>What ffprobe 5.1 reports on an MPEG-TS stream (named .mp4): the streams appear twice,
    /// once under "programs". The old CSV probe read that as "64,48,\n\n\n64,48," and said "no video stream".</summary>
    private const string Mpeg2Video = """{ "codec_name": "mpeg2video", "codec_type": "video", "width": 64,"""
        + """ "height": 48, "side_data_list": [ { } ] }""";

    private const string TransportStream = $$"""
        {
            "programs": [ { "streams": [
                {{Mpeg2Video}},
                { "codec_name": "mp2", "codec_type": "audio" } ] } ],
            "streams": [
                {{Mpeg2Video}},
                { "codec_name": "mp2", "codec_type": "audio" } ],
            "format": { "format_name": "mpegts" }
        }
        """;

    private static VideoDecoder.VideoProbe Parse(string report) => VideoDecoder.ParseProbe(Path, report);

    private static DferException Rejected(string report, string phrase)
    {
        DferException ex = WeightsAssert.FailsWith(Path, phrase, () => Parse(report));
        Assert.That(ex.Message.Length, Is.LessThan(400));
        return ex;
    }

    private static string VideoStream(string fields, string format = "mov,mp4,m4a,3gp,3g2,mj2") =>
        $$$"""{"streams": [{"codec_name": "h264", "codec_type": "video", {{{fields}}}}],"""
            + $$$""" "format": {"format_name": "{{{format}}}"}}""";

    [Test]
    public void TransportStreamNamedMp4HasItsVideoFound() =>
        Assert.That(Parse(TransportStream), Is.EqualTo(new VideoDecoder.VideoProbe(64, 48, null)));

    [Test]
    public void FrameCountIsReadAsNumberOrString()
    {
        Assert.That(Parse(VideoStream("\"width\": 640, \"height\": 480, \"nb_frames\": \"150\"")).FrameCount,
            Is.EqualTo(150));
        Assert.That(Parse(VideoStream("\"width\": \"640\", \"height\": \"480\", \"nb_frames\": 150")),
            Is.EqualTo(new VideoDecoder.VideoProbe(640, 480, 150)));
        Assert.That(Parse(VideoStream("\"width\": 640, \"height\": 480, \"nb_frames\": \"N/A\"")).FrameCount, Is.Null);
        Assert.That(Parse(VideoStream("\"width\": 640, \"height\": 480, \"nb_frames\": \"-5\"")).FrameCount, Is.Null);
        Assert.That(Parse(VideoStream("\"width\": 640, \"height\": 480, \"nb_frames\": 1e300")).FrameCount, Is.Null);
    }

    [Test]
    public void FieldsDferDoesNotNeedMayHoldAnything() =>
        Assert.That(Parse(
        VideoStream("\"width\": 64, \"height\": "
            + "48, \"avg_frame_rate\": \"0/0\", \"r_frame_rate\": \"NaN\", \"duration\": -1e308, \"extra\": [[[]]]")),
            Is.EqualTo(new VideoDecoder.VideoProbe(64, 48, null)));

    [Test]
    public void TheFirstVideoStreamIsTheOneDecoded() =>
        Assert.That(Parse("""{"streams": [{"codec_type": "audio"}, {"codec_type": "video", "width": 8, "height": 6},"""
            + """ {"codec_type": "video", "width": 10, "height": 10}]}"""),
            Is.EqualTo(new VideoDecoder.VideoProbe(8, 6, null)));

    [Test]
    public void NoVideoStreamSaysWhatFfprobeFound()
    {
        Rejected("""{"programs": [], "streams": [{"codec_name": "aac", "codec_type": "audio", "nb_frames": "10"}],"""
            + """ "format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2"}}""",
            "cannot decode video: no video stream (ffprobe found: audio aac in a mov,mp4,m4a,3gp,3g2,mj2 container)");
        Rejected("""{"streams": [{"codec_type": "audio", "codec_name": "opus"}, {"codec_type": "subtitle","""
            + """ "codec_name": "ass"}, {"codec_type": "data"}]}""",
            "no video stream (ffprobe found: audio opus, subtitle ass, data)");
        Rejected("""{"streams": [], "format": {"format_name": "wav"}}""",
            "no video stream (ffprobe found: no streams in a wav container)");
        Rejected("{}", "no video stream (ffprobe found: no streams)");
        Rejected("""{"streams": {"codec_type": "video"}}""", "no video stream (ffprobe found: no streams)");
        Rejected("""{"streams": [1, "video", null, [], {"codec_type": 7}]}""",
            "no video stream (ffprobe found: unknown)");
        Rejected("[1, 2]", "no video stream (ffprobe found: no streams)");
    }

    [Test]
    public void ManyStreamsAreCounted()
    {
        string streams = string.Join(", ", Enumerable.Repeat("""{"codec_type": "audio", "codec_name": "pcm_s16le"}""",
            5000));
        Rejected($$"""{"streams": [{{streams}}]}""",
            "(ffprobe found: audio pcm_s16le, audio pcm_s16le, audio pcm_s16le, audio pcm_s16le and 4996 more)");
    }

    [Test]
    public void NamesFromTheFileAreCutAndEscaped()
    {
        DferException ex = Rejected($$$"""{"streams": [{"codec_type": "audio","""
            + $$$""" "codec_name": "\u001b[2J{{{new string('a', 10_000)}}}"}], "format": {"format_name": "x\ny"}}""",
            "(ffprobe found: audio \\x1b[2Jaaaa");
        Assert.That(ex.Message, Does.Contain("more characters) in a x\\ny container)"));
        Assert.That(ex.Message, Does.Not.Contain('\u001b'));
    }

    [TestCase("", "ffprobe's report is not the JSON expected (it starts '')")]
    [TestCase("garbage \u001b[31m", "ffprobe's report is not the JSON expected (it starts 'garbage \\x1b[31m')")]
    [TestCase("64,48,\n\n\n64,48,\n", "ffprobe's report is not the JSON expected")]
    [TestCase("{\"streams\": [", "ffprobe's report is not the JSON expected")]
    [TestCase("{\"streams\": [NaN]}", "ffprobe's report is not the JSON expected")]
    public void NotJsonIsOneLine(string report, string phrase) => Rejected(report, phrase);

    [Test]
    public void DeeplyNestedJsonIsOneLine() =>
        Rejected("{\"streams\": " + new string('[', 100_000), "ffprobe's report is not the JSON expected");

    [TestCase("\"height\": 48", "ffprobe reports no valid frame size for its video stream (?x48)")]
    [TestCase("\"width\": 64", "no valid frame size for its video stream (64x?)")]
    [TestCase("\"width\": -64, \"height\": 48", "no valid frame size for its video stream (-64x48)")]
    [TestCase("\"width\": 0, \"height\": 0", "(0x0)")]
    [TestCase("\"width\": 64.5, \"height\": 48", "(64.5x48)")]
    [TestCase("\"width\": \"N/A\", \"height\": \"NaN\"", "(N/AxNaN)")]
    [TestCase("\"width\": 1e400, \"height\": 48", "(1e400x48)")]
    [TestCase("\"width\": true, \"height\": null", "(truexnull)")]
    [TestCase("\"width\": 99999999999999999999999, \"height\": 2", "(99999999999999999999999x2)")]
    public void InvalidFrameSizes(string fields, string phrase) => Rejected(VideoStream(fields), phrase);

    [Test]
    public void HugeFrameSizesAreRefusedBeforeDecoding()
    {
        Rejected(VideoStream("\"width\": 100000, \"height\": 100000"),
            "video frame of 100000x100000 pixels is larger than Dfer's limit of 67108864 pixels");
        Rejected(VideoStream("\"width\": 9223372036854775807, \"height\": 9223372036854775807"),
            "is larger than Dfer's limit");
        Rejected(VideoStream("\"width\": 4294967296, \"height\": 1"), "video frame of 4294967296x1 pixels is larger");
        Assert.That(Parse(VideoStream("\"width\": 8192, \"height\": 8192")).Width, Is.EqualTo(8192));
    }

    [Test]
    public void FrameCountOverTheLimitIsRefusedBeforeDecoding()
    {
        Assert.That(Parse(
            VideoStream($"\"width\": 64, \"height\": 48, \"nb_frames\": \"{MediaLimits.MaxVideoFrames}\"")).FrameCount,
            Is.EqualTo(100_000));
        Rejected(VideoStream($"\"width\": 64, \"height\": 48, \"nb_frames\": \"{MediaLimits.MaxVideoFrames + 1}\""),
            "video of 100001 frames (as ffprobe reports) is longer than Dfer's limit of 100000 frames");
    }

    /// <summary>Random corruptions of a real report: a probe or a DferException, nothing else.</summary>
    [Test, CancelAfter(60_000)]
    public void RandomCorruptionsGiveOnlyDferException()
    {
        var rng = TestSeed.Random(6);
        const string alphabet = "{}[],:\" \n0123456789-.eE+NaInfvideoaudwthg_\\u\x00\x1b";
        int rejected = 0;
        for (int round = 0; round < 5000; round++)
        {
            char[] text = TransportStream.ToCharArray();
            int edits = rng.Next(1, 8);
            for (int e = 0; e < edits; e++) text[rng.Next(text.Length)] = alphabet[rng.Next(alphabet.Length)];
            string report = new string(text)[..(rng.Next(5) == 0 ? rng.Next(text.Length) : text.Length)];
            try
            {
                VideoDecoder.VideoProbe probe = Parse(report);
                Assert.That(probe.Width, Is.Positive);
                Assert.That(probe.Height, Is.Positive);
                Assert.That((long)probe.Width * probe.Height, Is.LessThanOrEqualTo(MediaLimits.MaxImagePixels));
            }
            catch (DferException ex)
            {
                Assert.That(ex.Message, Does.StartWith(Path + ": ").And.Not.Contain('\n'), $"round {round}");
                rejected++;
            }
        }
        Assert.That(rejected, Is.GreaterThan(1000));
    }
}
