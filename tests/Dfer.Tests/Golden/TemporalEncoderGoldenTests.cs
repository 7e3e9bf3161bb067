using System.Text.Json;
using Dfer.Backends;
using Dfer.Models;
using Dfer.Pipelines;
using Dfer.Tensors;

namespace Dfer.Tests.Golden;

/// <summary>
/// Temporal Encoders saved by PyTorch itself (<c>torch.save</c> zip checkpoints and safetensors files, with their JSON
/// configs) load and reproduce PyTorch 1.13's own <c>nn.TransformerEncoder</c> outputs (tests/fixtures/temporal,
/// written by make_temporal_golden.py): four configurations covering post- and pre-norm, ReLU and GELU, no, learned
/// and sinusoidal positions, a final <c>encoder.norm</c>, logits features with a non-default eps, and videos of 13
/// frames whose two frames without a face leave 11, cut into chunks of 5, 5 and 1.
/// </summary>
[TestFixture]
public class TemporalEncoderGoldenTests
{
    public static readonly string[] Fixtures =
        ["postnorm_relu_none", "prenorm_gelu_learned", "postnorm_gelu_sinusoidal_norm",
            "prenorm_relu_sinusoidal_logits"];

    private static string Folder => Path.Combine(TestContext.CurrentContext.TestDirectory, "fixtures", "temporal");

    [Test]
    public void EveryFixture_LoadsWithTheShapesPyTorchHad(
        [ValueSource(nameof(Fixtures))] string name)
    {
        using var expected = Expected(name);
        var e = expected.RootElement;
        var encoder = TemporalEncoder.Load(Path.Combine(Folder, e.GetProperty("weights").GetString()!));
        Assert.That(encoder.Config.Features, Is.EqualTo(e.GetProperty("feature_name").GetString()));
        Assert.That(encoder.Features, Is.EqualTo(e.GetProperty("feature_size").GetInt32()));
        Assert.That(encoder.DModel, Is.EqualTo(e.GetProperty("d_model").GetInt32()));
        Assert.That(encoder.Config.Heads, Is.EqualTo(e.GetProperty("heads").GetInt32()));
        Assert.That(encoder.Layers, Is.EqualTo(e.GetProperty("layers").GetInt32()));
        Assert.That(encoder.FeedForward, Is.All.EqualTo(e.GetProperty("dim_feedforward").GetInt32()));
        Assert.That(encoder.Config.NormFirst, Is.EqualTo(e.GetProperty("norm_first").GetBoolean()));
        Assert.That(encoder.Config.Activation, Is.EqualTo(e.GetProperty("activation").GetString()));
        Assert.That(encoder.Config.Positional.ToString().ToLowerInvariant(),
            Is.EqualTo(e.GetProperty("positional").GetString()));
        Assert.That(encoder.FinalNorm, Is.EqualTo(e.GetProperty("final_norm").GetBoolean()));
        Assert.That(encoder.Config.LayerNormEps, Is.EqualTo(e.GetProperty("layer_norm_eps").GetDouble()));
        Assert.That(encoder.Config.Window, Is.EqualTo(e.GetProperty("window").GetInt32()));
    }

    [Test]
    public void PerFrameProbabilities_MatchPyTorch(
        [ValueSource(nameof(Fixtures))] string name,
        [Values("cpu", "ilgpu-cpu", "reference")] string backendName)
    {
        using var expected = Expected(name);
        var e = expected.RootElement;
        var encoder = TemporalEncoder.Load(Path.Combine(Folder, e.GetProperty("weights").GetString()!));
        var (data, shape) = Npy.ReadFloat32(Path.Combine(Folder, e.GetProperty("features").GetString()!));
        int frames = shape[0], f = shape[1];
        Assert.That(frames, Is.EqualTo(e.GetProperty("frames").GetInt32()));
        // The face frames are the rows without NaN, as dfer features writes them.
        var faceFrames = Enumerable.Range(0, frames).Where(i => !float.IsNaN(data[i * f])).ToArray();
        Assert.That(faceFrames, Is.EqualTo(e.GetProperty("face_frames").EnumerateArray().Select(v => v.GetInt32())));
        var rows = faceFrames.Select(i => data.AsSpan(i * f, f).ToArray()).ToList();

        using IBackend backend = BackendRegistry.Create(backendName, 2, Precision.Fp32);
        using var aggregation = new TemporalAggregation(backend, encoder, batch: 2);
        float[][] got = aggregation.Run(name, rows);

        var want = e.GetProperty("frame_probabilities");
        double worst = 0;
        for (int k = 0; k < faceFrames.Length; k++)
        {
            var row = want[faceFrames[k]].EnumerateArray().Select(v => v.GetDouble()).ToArray();
            for (int c = 0; c < 7; c++) worst = Math.Max(worst, Math.Abs(got[k][c] - row[c]));
        }
        foreach (int i in Enumerable.Range(0, frames).Except(faceFrames))
            Assert.That(want[i].ValueKind, Is.EqualTo(JsonValueKind.Null), "PyTorch did not score that frame either");
        Assert.That(worst, Is.LessThan(1e-5), $"{name} on {backendName}: max |Δp| {worst:E2}");
        float[] clip = TemporalAggregation.Mean(got);
        var wantClip = e.GetProperty("clip_probabilities").EnumerateArray().Select(v => v.GetDouble()).ToArray();
        for (int c = 0; c < 7; c++) Assert.That(clip[c], Is.EqualTo(wantClip[c]).Within(1e-5));
        Assert.That(Array.IndexOf(clip, clip.Max()), Is.EqualTo(e.GetProperty("clip_label").GetInt32()));
    }

    private static JsonDocument Expected(string name) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, name + ".expected.json")));
}
