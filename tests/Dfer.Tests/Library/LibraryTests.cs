extern alias library;
using Dfer.Media;
using Dfer.Models;
using Dfer.Tensors;
using Dfer.Tests.Cli;
using Dfer.Tests.Media;
using Dfer.TorchSupport;
using Dfer.Weights;
using TorchSharp;
using DferModel = library::Dfer.DferModel;
using DferModelPool = library::Dfer.DferModelPool;
using DferOptions = library::Dfer.DferOptions;
using LibraryError = library::Dfer.DferException;
using LibraryFaceMode = library::Dfer.FaceMode;
using VideoFrame = library::Dfer.VideoFrame;

namespace Dfer.Tests.Library;

/// <summary>
/// The library's public API (src/Dfer, docs/library.md) as a user calls it: M3DFEL's logits through every door
/// (a checkpoint path, a checkpoint stream, a frame folder, decoded frames, ready clips, a pool) against the
/// TorchSharp float64 model written from the spec; the expression model on a smiling video against the CLI's JSON;
/// and every error as the library's one exception type, naming the input.
/// </summary>
[TestFixture]
public sealed class LibraryTests
{
    private const int Classes = 7;
    private string _dir = null!;
    private string _checkpoint = null!;
    private StateDict _weights = null!;
    private ulong _seed;

    [OneTimeSetUp]
    public void SetUp()
    {
        _seed = TestSeed.UseFresh();
        _dir = Directory.CreateTempSubdirectory("dfer-library-").FullName;
        _weights = ModelRegistry.Get("m3dfel").GenerateWeights(_seed);
        _checkpoint = Path.Combine(_dir, "m3dfel.safetensors");
        SafetensorsWriter.WriteFloat32(_checkpoint,
            _weights.Names.Select(n => (n, _weights[n].Shape, _weights[n].Data)));
    }

    [OneTimeTearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    private static DferOptions Cpu => new() { Threads = 2 };

    /// <summary>The TorchSharp float64 M3DFEL's logits for <paramref name="clips"/>.</summary>
    private double[] TorchLogits(float[] clips, int batch)
    {
        var dict = _weights.Names.ToDictionary(n => n, n => (_weights[n].Data, _weights[n].Shape));
        using var model = new TorchM3dfel(dict, torch.ScalarType.Float64);
        return model.Forward(clips, batch);
    }

    private static double MaxDiff(IReadOnlyList<float> ours, double[] reference, int offset = 0) =>
        Enumerable.Range(0, Classes).Max(c => Math.Abs(ours[c] - reference[offset + c]));

    [Test]
    public void FrameFolder_DecodedFrames_AFrameStream_AndTheReference_Agree()
    {
        string folder = MediaFixtures.PathOf("frames");
        var protocol = ModelRegistry.Get("m3dfel").Protocol;
        double[] reference = TorchLogits(MediaInput.ReadClips(folder, protocol)[0], 1);

        using var model = DferModel.Load("m3dfel", _checkpoint, Cpu);
        var video = model.ScoreVideo(folder);
        Assert.That(video.Face, Is.EqualTo(LibraryFaceMode.None), "auto is none for a frame folder");
        Assert.That(video.Clips, Has.Count.EqualTo(1));
        double error = MaxDiff(video.Logits!, reference);
        TestContext.Out.WriteLine($"seed {_seed}: frame folder max |Δlogit| vs torch f64 = {error:E2}");
        Assert.That(error, Is.LessThanOrEqualTo(1e-4), $"seed {_seed}");
        Assert.That(video.Probabilities.Sum(), Is.EqualTo(1).Within(1e-5));
        Assert.That(video.Label, Is.EqualTo(video.Classes[ArgMax(video.Probabilities)]));
        Assert.That(video.Frames.Select(f => f.Frame), Is.EqualTo(video.Clips[0].Frames!.Distinct().Order()));

        // Decoded frames: auto means detect (frames from a camera are whole frames), and these have no face.
        var frames = MediaInput.ReadFrames(folder)
            .Select(f => new VideoFrame(f.Width, f.Height, f.Pixels)).ToArray();
        var e = Assert.Throws<LibraryError>(() => model.ScoreFrames(frames));
        Assert.That(e!.Message, Does.StartWith("frames: no face found in any of its 20 frames"));
        Assert.That(e.Input, Is.EqualTo("frames"));

        using var whole = DferModel.Load("m3dfel", _checkpoint, Cpu with { Face = LibraryFaceMode.None });
        var fromFrames = whole.ScoreFrames(frames, 25);
        Assert.That(fromFrames.Logits, Is.EqualTo(video.Logits), "decoded frames score as the folder they came from");
        Assert.That(fromFrames.Input, Is.EqualTo("frames"));
        Assert.That(fromFrames.Frames[1].Time, Is.EqualTo(fromFrames.Frames[1].Frame / 25.0));
        var streamed = whole.ScoreFramesAsync(Stream(frames)).GetAwaiter().GetResult();
        Assert.That(streamed.Logits, Is.EqualTo(video.Logits), "frames from an async stream");

        static async IAsyncEnumerable<VideoFrame> Stream(IEnumerable<VideoFrame> frames)
        {
            foreach (var f in frames)
            {
                await Task.Yield();
                yield return f;
            }
        }
    }

    [Test]
    public void Clips_FromAStreamLoadedCheckpoint_MatchTheReference_AndAPoolGivesEachCallItsOwnResult()
    {
        const int batch = 5;
        int clip = 16 * 3 * 112 * 112;
        var clips = new DeterministicRandom(_seed + 1).Uniform((long)batch * clip, 0, 1);
        for (int b = 1; b < batch; b++)
            for (int i = 0; i < clip; i++)
                clips[b * clip + i] = 0.3f * clips[b * clip + i] + 0.7f * (i * (b + 1) % 97) / 97f;
        // The reference scores the first and the last clip (each in its own forward pass of the library's).
        double[] reference = TorchLogits([.. clips.AsSpan(0, clip), .. clips.AsSpan((batch - 1) * clip, clip)], 2);

        using var stream = File.OpenRead(_checkpoint);
        using var model = DferModel.LoadFrom("m3dfel", stream, Cpu);
        var scores = model.ScoreClips(clips, [batch, 16, 3, 112, 112]);
        Assert.That(scores, Has.Count.EqualTo(batch));
        double error = Math.Max(MaxDiff(scores[0].Logits, reference),
            MaxDiff(scores[batch - 1].Logits, reference, Classes));
        TestContext.Out.WriteLine($"seed {_seed}: 5 clips (batches of 4 and 1) max |Δlogit| = {error:E2}");
        Assert.That(error, Is.LessThanOrEqualTo(1e-4), $"seed {_seed}");
        Assert.That(Enumerable.Range(0, Classes).Max(c => Math.Abs(reference[c] - reference[Classes + c])),
            Is.GreaterThan(100 * error), "the logits depend on the clip");

        using var pool = new DferModelPool("m3dfel", _checkpoint, 2, new DferOptions { Threads = 1 });
        var calls = Enumerable.Range(0, 3).Select(b =>
            pool.ScoreClipsAsync(clips.AsMemory(b * clip, clip), [16, 3, 112, 112])).ToArray();
        Task.WaitAll(calls);
        for (int b = 0; b < calls.Length; b++)
            Assert.That(calls[b].Result[0].Logits, Is.EqualTo(scores[b].Logits).Within(1e-5), $"clip {b}");
    }

    /// <summary>A 10-frame smiling-face video <paramref name="name"/> and the CLI's JSON result for it, from
    /// <c>dfer infer</c> with <paramref name="model"/> (the model options) on 2 threads.</summary>
    private (string Video, System.Text.Json.JsonElement Expected) SmileVideoAndCli(string name,
        params string[] model)
    {
        ExpressionCommandTests.RequireWeights();
        Ffmpeg.Require();
        string video = Path.Combine(_dir, name);
        Ffmpeg.Encode(video, ExpressionCommandTests.SmileFrames(10), "-c:v", "libx264", "-crf", "12", "-pix_fmt",
            "yuv420p");
        var cli = CliHarness.Run(["infer", .. model, video, "--format", "json", "--threads", "2"]);
        Assert.That(cli.ExitCode, Is.Zero, cli.ToString());
        return (video, cli.Json().GetProperty("results")[0]);
    }

    [Test]
    public void SmilingVideo_ScoresAsTheCliDoes()
    {
        var (video, expected) = SmileVideoAndCli("smile.mp4", "--model", "expression");

        using var model = DferModel.Load("expression", null, Cpu);
        Assert.That(model.ClipShape, Is.Null);
        var result = model.ScoreVideo(video);
        Assert.That(result.Label, Is.EqualTo("happy"));
        Assert.That(result.Label, Is.EqualTo(expected.GetProperty("label").GetString()));
        for (int c = 0; c < Classes; c++)
            Assert.That(result.Probabilities[c],
                Is.EqualTo(expected.GetProperty("probabilities")[c].GetDouble()).Within(1e-6));
        Assert.That(result.Frames, Has.Count.EqualTo(10));
        Assert.That(result.Frames.Count(f => f.Face is not null),
            Is.EqualTo(expected.GetProperty("frames_with_face").GetInt32()));
        Assert.That(result.Frames[5].Time, Is.EqualTo(0.2).Within(1e-12));
        Assert.That(result.Logits, Is.Null);
        Assert.That(result.Clips, Is.Empty);

        var e = Assert.Throws<LibraryError>(() => model.ScoreClips(new float[3], [3]));
        Assert.That(e!.Message, Is.EqualTo(
            "clips: the expression model scores frames, not clips: use ScoreVideo or ScoreFrames"));
    }

    [Test]
    public void AFaceVideo_ThroughTheFaceStage_ScoresAsTheCliDoes()
    {
        var (video, expected) = SmileVideoAndCli("face.mp4", "--model", "m3dfel", "--weights", _checkpoint);

        using var model = DferModel.Load("m3dfel", _checkpoint, Cpu);
        var result = model.ScoreVideo(video);
        Assert.That(result.Face, Is.EqualTo(LibraryFaceMode.Detect), "auto is detect for a video file");
        for (int c = 0; c < Classes; c++)
            Assert.That(result.Logits![c], Is.EqualTo(expected.GetProperty("logits")[c].GetSingle()), $"logit {c}");
        var boxes = expected.GetProperty("face").GetProperty("boxes");
        Assert.That(result.Frames, Has.Count.EqualTo(boxes.GetArrayLength()));
        for (int i = 0; i < result.Frames.Count; i++)
        {
            Assert.That(result.Frames[i].Frame, Is.EqualTo(boxes[i].GetProperty("frame").GetInt32()));
            Assert.That(result.Frames[i].Face!.X, Is.EqualTo(boxes[i].GetProperty("x").GetDouble()).Within(0.005));
            Assert.That(result.Frames[i].Face!.Width,
                Is.EqualTo(boxes[i].GetProperty("width").GetDouble()).Within(0.005));
        }
        Assert.That(result.FrameWidth, Is.EqualTo(320));
        Assert.That(result.Frames[1].Time, Is.EqualTo(result.Frames[1].Frame / 25.0).Within(1e-12));
    }

    private static IEnumerable<TestCaseData> LoadErrors()
    {
        yield return new TestCaseData("m3dfle", "x.pth", new DferOptions(),
            "unknown model 'm3dfle'; available: m3dfel, ifdd, rdfer").SetName("Load unknown model");
        yield return new TestCaseData("m3dfel", null, new DferOptions(),
            "m3dfel needs a checkpoint: its original state dict (.pth or .safetensors)").SetName("Load no checkpoint");
        yield return new TestCaseData("m3dfel", "/nonexistent/m.pth", new DferOptions(),
            "/nonexistent/m.pth: no such file").SetName("Load missing checkpoint");
        yield return new TestCaseData("m3dfel", "/nonexistent/m.pth", new DferOptions { Threads = -1 },
            "Threads -1: give 0 (every core) or a positive number of threads").SetName("Load negative threads");
        yield return new TestCaseData("m3dfel", "/nonexistent/m.pth", new DferOptions { Precision = "fp8" },
            "unknown precision 'fp8': use fp32, tf32, bf16 or fp16").SetName("Load unknown precision");
        yield return new TestCaseData("expression", "x.pth", new DferOptions(),
            "expression runs face-api's pretrained weights (scripts/fetch-face-api.sh): give no checkpoint")
            .SetName("Load expression with a checkpoint");
        yield return new TestCaseData("m3dfel", "/nonexistent/m.pth", new DferOptions { Detector = "yolo" },
            "unknown face detector 'yolo': use ssd or tiny").SetName("Load unknown detector");
    }

    [TestCaseSource(nameof(LoadErrors))]
    public void LoadProblems_AreOneLine(string model, string? checkpoint, DferOptions options, string message)
    {
        var e = Assert.Throws<LibraryError>(() => DferModel.Load(model, checkpoint, options).Dispose());
        Assert.That(e!.Message, Does.StartWith(message));
        Assert.That(e.Message, Does.Not.Contain('\n'));
    }

    [Test]
    public void ACheckpointStreamThatIsNotOne_IsNamedAsTheStream()
    {
        using var stream = new MemoryStream("not a checkpoint at all"u8.ToArray());
        var e = Assert.Throws<LibraryError>(() => DferModel.LoadFrom("m3dfel", stream, Cpu).Dispose());
        Assert.That(e!.Message, Is.EqualTo(
            "checkpoint stream: is neither a PyTorch checkpoint (torch.save) nor a safetensors file"));
        Assert.That(Directory.GetFiles(Path.GetTempPath(), "dfer-*.checkpoint"), Is.Empty,
            "the temporary copy is deleted");
    }

    [Test]
    public void BadInputs_AreOneLineNamingTheInput_AndTheModelStaysUsable()
    {
        using var model = DferModel.Load("m3dfel", _checkpoint, Cpu);
        int clip = 16 * 3 * 112 * 112;
        var clips = new float[2 * clip];
        clips[clip + 17] = float.NaN;
        var cases = new (Action Call, string Message)[]
        {
            (() => model.ScoreClips(new float[clip], [16, 3, 112, 113]),
                "clips: shape [16, 3, 112, 113] is not m3dfel's: give [16, 3, 112, 112] or [clips, 16, 3, 112, 112]"),
            (() => model.ScoreClips(new float[clip - 1], [16, 3, 112, 112]),
                $"clips: shape [16, 3, 112, 112] is {clip} values, got {clip - 1}"),
            (() => model.ScoreClips(clips, [2, 16, 3, 112, 112]),
                "clips: clip 1 contains NaN (at value 17 of the clip)"),
            (() => model.ScoreVideo(Path.Combine(_dir, "none.mp4")), $"{Path.Combine(_dir, "none.mp4")}: no such file"),
            (() => model.ScoreFrames([]), "frames: no frames given"),
        };
        foreach (var (call, message) in cases)
        {
            var e = Assert.Throws<LibraryError>(() => call());
            Assert.That(e!.Message, Does.StartWith(message));
            Assert.That(e.Input, Is.Not.Null);
        }
        Assert.That(model.ScoreClips(new float[clip], [1, 16, 3, 112, 112]), Has.Count.EqualTo(1),
            "the model still scores after the errors");
        Assert.That(model.ScoreClips([], [0, 16, 3, 112, 112]), Is.Empty);
    }

    [Test]
    public void Cancellation_AndDispose()
    {
        var model = DferModel.Load("m3dfel", _checkpoint, Cpu);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        Assert.Throws<OperationCanceledException>(() =>
            model.ScoreClips(new float[16 * 3 * 112 * 112], [16, 3, 112, 112], cancelled.Token));
        Assert.ThrowsAsync<TaskCanceledException>(() => model.ScoreVideoAsync("x.mp4", cancelled.Token));
        model.Dispose();
        model.Dispose();
        Assert.Throws<ObjectDisposedException>(() =>
            model.ScoreClips(new float[16 * 3 * 112 * 112], [16, 3, 112, 112]));
    }

    private static int ArgMax(IReadOnlyList<float> p) => p.Select((v, i) => (v, i)).Max().i;
}
