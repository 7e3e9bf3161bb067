using System.Runtime.InteropServices;
using System.Text.Json;
using Dfer.Cli;
using Dfer.Models;
using Dfer.Tensors;
using Dfer.Tests.Media;
using Dfer.TorchSupport;
using Dfer.Weights;
using Dfer.Weights.TfJs;

namespace Dfer.Tests.Cli;

/// <summary>
/// <c>dfer features</c> and <c>infer --model expression --temporal</c> end to end on a real face video with
/// face-api's real weights (docs/temporal-encoder.md): the features are the expression net's (its own classifier on
/// the pooled features gives the logits written, whose softmax is what infer reports), frames without a face are NaN
/// rows, and a Temporal Encoder loaded from disk reproduces the TorchSharp oracle on those very features.
/// </summary>
[TestFixture]
public class FeaturesCommandTests
{
    private CliHarness _h = null!;

    [SetUp]
    public void SetUp() => _h = new CliHarness();

    [TearDown]
    public void TearDown() => _h.Dispose();

    /// <summary>10 frames of a smiling face, then 4 black ones after the last detection: no face there.</summary>
    private string Video(string name = "smile.mp4")
    {
        ExpressionCommandTests.RequireWeights();
        Ffmpeg.Require();
        string video = _h.PathOf(name);
        var frames = ExpressionCommandTests.SmileFrames(10);
        for (int i = 0; i < 4; i++) frames.Add(new Dfer.Media.RgbImage(320, 320, new byte[320 * 320 * 3]));
        Ffmpeg.Encode(video, frames, "-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv420p");
        return video;
    }

    [Test]
    public void Features_AreTheNets_WithNaNRowsWhereNoFace()
    {
        string video = Video();
        string npy = _h.PathOf("f.npy"), st = _h.PathOf("f.safetensors");
        var run = CliHarness.Run("features", "--model", "expression", video, "--output", npy, "--threads", "2");
        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        Assert.That(run.Stdout, Does.Contain("wrote expression.pooled [14, 256] to " + npy));
        var (pooled, shape) = Npy.ReadFloat32(npy);
        Assert.That(shape, Is.EqualTo(new[] { 14, 256 }));
        using var sidecar = JsonDocument.Parse(File.ReadAllText(_h.PathOf("f.json")));
        var perFrame = sidecar.RootElement.GetProperty("per_frame");
        Assert.That(perFrame.GetArrayLength(), Is.EqualTo(14));
        var face = Enumerable.Range(0, 14).Select(i => perFrame[i].GetProperty("face").ValueKind != JsonValueKind.Null)
            .ToArray();
        Assert.That(face.Count(f => f), Is.InRange(5, 10), "the smiling frames have a face");
        Assert.That(face.Skip(10), Is.All.False, "the black frames have none");
        for (int i = 0; i < 14; i++)
        {
            Assert.That(perFrame[i].GetProperty("frame").GetInt32(), Is.EqualTo(i));
            Assert.That(perFrame[i].GetProperty("time").GetDouble(), Is.EqualTo(i / 25.0).Within(1e-4));
            var row = pooled.AsSpan(i * 256, 256).ToArray();
            if (face[i]) Assert.That(row, Is.All.Not.NaN, $"frame {i}");
            else Assert.That(row, Is.All.NaN, $"frame {i}");
        }

        run = CliHarness.Run("features", "--model", "expression", video, "--output", st, "--threads", "2");
        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        using var file = SafetensorsFile.Open(st);
        float[] pooled2 = Read(file, TemporalFeatures.Pooled, [14, 256]);
        Assert.That(pooled2.Zip(pooled).All(p => p.First.Equals(p.Second)), "the same pooled features as the .npy");
        float[] logits = Read(file, TemporalFeatures.Logits, [14, 7]);
        Assert.That(file.GetBytes(Entry(file, "face", [14])).ToArray().Select(b => b == 1), Is.EqualTo(face));
        Assert.That(file.ReadInt64(Entry(file, "frame", [14])),
            Is.EqualTo(Enumerable.Range(0, 14).Select(i => (long)i)));
        double[] time = MemoryMarshal.Cast<byte, double>(file.GetBytes(Entry(file, "time", [14]))).ToArray();
        Assert.That(time[7], Is.EqualTo(7 / 25.0).Within(1e-4));
        Assert.That(file.Metadata["format"], Is.EqualTo("dfer-features"));

        // The net's own classifier (fc/weights [256, 7], TF layout, face-api's label order) on the pooled features
        // gives the logits written, in Dfer's order; their softmax is what infer reports per frame.
        var net = FaceApiPackage.Load(FaceApiPackage.ExpressionModel);
        float[] w = net["fc/weights"].Data, b = net["fc/bias"].Data;
        int[] toDfer = [1, 2, 0, 3, 6, 5, 4]; // happy, sad, neutral, angry, surprise, disgust, fear in face-api's list
        var infer = CliHarness.Run("infer", "--model", "expression", video, "--format", "json", "--threads", "2");
        Assert.That(infer.ExitCode, Is.Zero, infer.ToString());
        var inferFrames = infer.Json().GetProperty("results")[0].GetProperty("per_frame");
        for (int i = 0; i < 14; i++)
        {
            if (!face[i])
            {
                Assert.That(logits.Skip(i * 7).Take(7), Is.All.NaN);
                continue;
            }
            var z = new double[7];
            for (int k = 0; k < 7; k++)
            {
                double sum = b[toDfer[k]];
                for (int c = 0; c < 256; c++) sum += pooled[i * 256 + c] * (double)w[c * 7 + toDfer[k]];
                z[k] = sum;
                Assert.That(logits[i * 7 + k], Is.EqualTo(sum).Within(1e-4), $"frame {i} logit {k}");
            }
            double max = z.Max(), total = z.Sum(v => Math.Exp(v - max));
            var p = inferFrames[i].GetProperty("probabilities");
            for (int k = 0; k < 7; k++)
                Assert.That(p[k].GetDouble(), Is.EqualTo(Math.Exp(z[k] - max) / total).Within(1e-5));
        }
    }

    [TestCase(false, "relu", "learned")]
    [TestCase(true, "gelu", "sinusoidal")]
    public void Temporal_ReproducesTheOracleOnTheExtractedFeatures(bool normFirst, string activation,
        string positional)
    {
        string video = Video();
        string st = _h.PathOf("f.safetensors");
        Assert.That(CliHarness.Run("features", "--model", "expression", video, "--output", st).ExitCode, Is.Zero);
        using var file = SafetensorsFile.Open(st);
        float[] logits = Read(file, TemporalFeatures.Logits, [14, 7]);
        var faceFrames = Enumerable.Range(0, 14).Where(i => !float.IsNaN(logits[i * 7])).ToArray();

        // A random encoder on the logits, W = 3: the face frames make chunks of 3, 3, ... and a shorter last one.
        var weights = TemporalEncoderWeights.Random((int)TestSeed.Use(21), 7, 8, 2, [12], 3, positional, true);
        string enc = _h.PathOf("enc.safetensors");
        SafetensorsWriter.WriteFloat32(enc, weights.Select(kv => (kv.Key, kv.Value.Shape, kv.Value.Data)));
        File.WriteAllText(_h.PathOf("enc.json"), JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["features"] = TemporalFeatures.Logits,
            ["heads"] = 2,
            ["norm_first"] = normFirst,
            ["activation"] = activation,
            ["window"] = 3,
            ["positional"] = positional,
        }));
        Assert.That(faceFrames.Length % 3, Is.Not.Zero, "a last chunk shorter than W");

        var run = CliHarness.Run("infer", "--model", "expression", "--temporal", enc, video, "--format", "json",
            "--batch", "2", "--threads", "2");
        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        var result = run.Json().GetProperty("results")[0];
        Assert.That(result.GetProperty("aggregation").GetString(), Is.EqualTo("temporal"));
        Assert.That(result.GetProperty("temporal").GetProperty("positional").GetString(), Is.EqualTo(positional));
        using var oracle = new TorchTemporalEncoder(weights, 2, normFirst, activation, 3, positional);
        double[] want = oracle.PerFrameProbabilities(
            faceFrames.SelectMany(i => logits.Skip(i * 7).Take(7)).Select(v => (double)v).ToArray(), faceFrames.Length);
        var perFrame = result.GetProperty("per_frame");
        double worst = 0;
        var clip = new double[7];
        for (int j = 0; j < faceFrames.Length; j++)
        {
            var frame = perFrame[faceFrames[j]];
            var p = frame.GetProperty("probabilities");
            for (int k = 0; k < 7; k++)
            {
                worst = Math.Max(worst, Math.Abs(p[k].GetDouble() - want[j * 7 + k]));
                clip[k] += want[j * 7 + k] / faceFrames.Length;
            }
            Assert.That(frame.GetProperty("smoothed").GetArrayLength(), Is.EqualTo(7), "the fixed mean stays");
            Assert.That(frame.GetProperty("expression_net").GetArrayLength(), Is.EqualTo(7), "so does the net's own");
        }
        Assert.That(worst, Is.LessThan(1e-4), $"max |Δp| {worst:E2}");
        for (int k = 0; k < 7; k++)
            Assert.That(result.GetProperty("probabilities")[k].GetDouble(), Is.EqualTo(clip[k]).Within(1e-4));
        foreach (int i in Enumerable.Range(0, 14).Except(faceFrames))
            Assert.That(perFrame[i].TryGetProperty("probabilities", out _), Is.False, $"frame {i} is not scored");
    }

    [Test]
    public void Folder_WritesAFilePerVideoAndAnIndex_AndResumes()
    {
        string good = Video("a.mp4");
        string bad = _h.PathOf("b.mp4");
        File.WriteAllBytes(bad, new byte[3000]);
        string dir = _h.PathOf("feats");
        var run = CliHarness.Run("features", "--model", "expression", good, bad, "--output", dir, "--file-type", "npy",
            "--layer", "logits");
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.InputFailed), run.ToString());
        Assert.That(run.StderrLines, Has.Some.StartsWith($"dfer: error: {bad}: "), "the bad video, in one line");
        Assert.That(run.Stderr, Does.Not.Contain("   at "));
        Assert.That(Npy.ReadFloat32(Path.Combine(dir, "a.npy")).Shape, Is.EqualTo(new[] { 14, 7 }));
        Assert.That(File.Exists(Path.Combine(dir, "a.json")), "the sidecar");
        string[] lines = File.ReadAllLines(Path.Combine(dir, "index.jsonl"));
        Assert.That(lines, Has.Length.EqualTo(3));
        Assert.That(JsonDocument.Parse(lines[0]).RootElement.GetProperty("dfer_features").GetProperty("layer")
            .GetString(), Is.EqualTo("expression.logits"));
        var a = JsonDocument.Parse(lines[1]).RootElement;
        Assert.That((a.GetProperty("file").GetString(), a.GetProperty("frames").GetInt32()), Is.EqualTo(("a.npy", 14)));
        Assert.That(JsonDocument.Parse(lines[2]).RootElement.GetProperty("error").GetString(), Does.Contain("b.mp4"));

        // Again without --resume: refused; with it, the good video is kept and only the failed one is tried again.
        var again = CliHarness.Run("features", "--model", "expression", good, bad, "--output", dir, "--file-type",
            "npy", "--layer", "logits");
        Assert.That(again.ExitCode, Is.EqualTo(ExitCodes.Usage), again.ToString());
        Assert.That(again.Stderr, Does.Contain("pass --resume to continue that run, or --overwrite"));
        DateTime written = File.GetLastWriteTimeUtc(Path.Combine(dir, "a.npy"));
        var resumed = CliHarness.Run("features", "--model", "expression", good, bad, "--output", dir, "--file-type",
            "npy", "--layer", "logits", "--resume");
        Assert.That(resumed.ExitCode, Is.EqualTo(ExitCodes.InputFailed), resumed.ToString());
        Assert.That(resumed.Stderr, Does.Contain("resuming: 1 videos already in"));
        Assert.That(File.GetLastWriteTimeUtc(Path.Combine(dir, "a.npy")), Is.EqualTo(written), "not extracted again");
        Assert.That(File.ReadAllLines(Path.Combine(dir, "index.jsonl")), Has.Length.EqualTo(3), "one line per video");
        // Resuming with other settings is refused.
        var other = CliHarness.Run("features", "--model", "expression", good, "--output", dir, "--resume");
        Assert.That(other.ExitCode, Is.EqualTo(ExitCodes.Usage), other.ToString());
        Assert.That(other.Stderr, Does.Contain("was written by a run with other settings"));
    }

    [Test]
    public void DatasetCsv_RecordsEachVideosLabel_FrameFoldersHaveNoTimes()
    {
        ExpressionCommandTests.RequireWeights();
        // A DFEW-style root: video 00001 is a frame folder of the smiling face (label 1 = happy), 00002 is missing.
        string root = _h.PathOf("dfew");
        string clip = Path.Combine(root, "Clip", "clip_224x224", "00001");
        Directory.CreateDirectory(clip);
        var frames = ExpressionCommandTests.SmileFrames(6);
        for (int i = 0; i < frames.Count; i++)
            Dfer.Media.ImageEncoder.WritePng(frames[i], Path.Combine(clip, $"{i + 1:D5}.png"));
        string csv = _h.PathOf("split.csv");
        File.WriteAllText(csv, "video_name,label\n1,1\n2,5\n");
        string dir = _h.PathOf("feats");
        var run = CliHarness.Run("features", "--model", "expression", "--dataset", csv, "--root", root, "--output",
            dir);
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.InputFailed), run.ToString());
        string[] lines = File.ReadAllLines(Path.Combine(dir, "index.jsonl"));
        Assert.That(lines, Has.Length.EqualTo(3), string.Join("\n", lines));
        var first = JsonDocument.Parse(lines[1]).RootElement;
        Assert.That(first.GetProperty("name").GetString(), Is.EqualTo("1"), "the CSV's name for the video");
        Assert.That((first.GetProperty("target").GetInt32(), first.GetProperty("label").GetString()),
            Is.EqualTo((0, "happy")));
        Assert.That(first.GetProperty("file").GetString(), Is.EqualTo("1.safetensors"));
        var second = JsonDocument.Parse(lines[2]).RootElement;
        Assert.That((second.GetProperty("target").GetInt32(), second.GetProperty("label").GetString()),
            Is.EqualTo((4, "surprise")), "a failed video keeps its label");
        Assert.That(second.GetProperty("error").GetString(), Does.Contain("00002"));
        using var file = SafetensorsFile.Open(Path.Combine(dir, "1.safetensors"));
        Assert.That(file.TryGet("time", out _), Is.False, "a frame folder has no frame rate, so no times");
        Assert.That(Read(file, TemporalFeatures.Pooled, [6, 256]).Take(256), Is.All.Not.NaN);
    }

    [TestCase(new[] { "--model", "m3dfel", "x.mp4", "--output", "f.npy" },
        "per-frame features come from --model expression")]
    [TestCase(new[] { "--model", "expression", "--output", "f.npy" }, "nothing to extract")]
    [TestCase(new[] { "--model", "expression", "a.mp4", "b.mp4", "--output", "f.npy" },
        "--output must be a folder")]
    [TestCase(new[] { "--model", "expression", "a.mp4", "--output", "f.npy", "--file-type", "npy" },
        "--file-type applies to a folder --output")]
    [TestCase(new[] { "--model", "expression", "a.mp4", "--output", "f.npy", "--face", "none" }, "drop --face none")]
    [TestCase(new[] { "--model", "expression", "a.mp4", "--output", "f.npy", "--layer", "conv3" },
        "--layer conv3: not one of pooled, logits")]
    public void BadCommandLines_OneLineEach(string[] args, string expected)
    {
        var run = CliHarness.Run(["features", .. args]);
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        Assert.That(run.StderrLines[0], Does.StartWith("dfer: error: ").And.Contain(expected), run.ToString());
    }

    [Test]
    public void TemporalWithBrokenFiles_ListsEveryProblem_ExitTwo()
    {
        string enc = _h.PathOf("enc.safetensors");
        SafetensorsWriter.WriteFloat32(enc, [("input_proj.weight", [8, 7], new float[56])]);
        File.WriteAllText(_h.PathOf("enc.json"), "{\"features\": \"expression.logits\", \"heads\": 2}");
        var run = CliHarness.Run("infer", "--model", "expression", "--temporal", enc, _h.PathOf("any.mp4"));
        Assert.That(run.ExitCode, Is.EqualTo(ExitCodes.Usage), run.ToString());
        var errors = run.StderrLines.Where(l => l.StartsWith("dfer: error: ", StringComparison.Ordinal)).ToList();
        Assert.That(errors, Has.Count.EqualTo(4), run.ToString());
        Assert.That(errors, Is.All.Contain("enc.json: missing field"));
        Assert.That(run.Stderr, Does.Not.Contain("   at "));
    }

    private static SafetensorsEntry Entry(SafetensorsFile file, string name, long[] shape)
    {
        Assert.That(file.TryGet(name, out var e), $"tensor {name}");
        Assert.That(e!.Shape, Is.EqualTo(shape), name);
        return e;
    }

    private static float[] Read(SafetensorsFile file, string name, long[] shape) =>
        file.ReadFloat32(Entry(file, name, shape));
}
