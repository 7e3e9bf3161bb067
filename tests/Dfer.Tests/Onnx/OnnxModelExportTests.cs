using Dfer.Backends.Cpu;
using Dfer.Models;
using Dfer.Runtime;
using Dfer.Tensors;
using Dfer.Weights;

namespace Dfer.Tests.Onnx;

/// <summary>
/// Each exportable model (M3DFEL, IFDD, RDFER) exported with generated weights and run by ONNX Runtime: its logits
/// and probabilities (and RDFER's key frames, compared first: a different key frame is a different input to the
/// rest of the model) against Dfer's CPU backend on the same fresh clips, at a fixed batch and, from one
/// dynamic-batch file, at two other batch sizes.
/// </summary>
[TestFixture]
public class OnnxModelExportTests
{
    private const int Classes = 7;
    private CpuBackend _cpu = null!;

    [OneTimeSetUp] public void SetUp() => _cpu = new CpuBackend(2);

    [OneTimeTearDown] public void TearDown() => _cpu.Dispose();

    private static float[] Clips(IModel model, int batch, ulong seed)
    {
        int clip = model.ClipShape.Aggregate(1, (a, b) => a * b);
        var clips = new DeterministicRandom(seed).Uniform((long)batch * clip, 0, 1);
        // Each clip gets a ramp of its own, so the clips' logits differ clearly.
        for (int b = 1; b < batch; b++)
            for (int i = 0; i < clip; i++)
                clips[b * clip + i] = 0.3f * clips[b * clip + i] + 0.7f * (i * (b + 1) % 113) / 113f;
        return clips;
    }

    /// <summary>ORT's logits against ours, max |Δ| (and the check that the logits depend on the clip).</summary>
    private double Compare(IModel model, Microsoft.ML.OnnxRuntime.InferenceSession session, StateDict weights,
        int batch, ulong seed)
    {
        float[] clips = Clips(model, batch, seed);
        using var dfer = new Session(model, weights, _cpu);
        var ours = dfer.Run(clips, batch);
        var theirs = OnnxRuntimeSupport.Run(session,
            (OnnxExport.InputName, clips, [batch, .. model.ClipShape]));
        Assert.That(theirs["logits"], Has.Length.EqualTo(batch * Classes));
        if (theirs.TryGetValue("key_frames", out float[]? keys))
        {
            int[] ourKeys = ours.SelectMany(r => r.KeyFrames!).ToArray();
            Assert.That(keys.Select(k => (int)k), Is.EqualTo(ourKeys), "ONNX Runtime picks other key frames");
        }
        double max = 0, spread = 0;
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < Classes; c++)
            {
                float logit = theirs["logits"][b * Classes + c];
                Assert.That(float.IsFinite(logit));
                max = Math.Max(max, Math.Abs(logit - ours[b].Logits[c]));
                max = Math.Max(max, Math.Abs(theirs["probabilities"][b * Classes + c] - ours[b].Probabilities[c]));
                spread = Math.Max(spread, Math.Abs(ours[b].Logits[c] - ours[0].Logits[c]));
            }
        TestContext.Out.WriteLine($"batch {batch}, seed {seed}: max |Δlogit| = {max:E2}, spread {spread:F3}");
        if (batch > 1) Assert.That(spread, Is.GreaterThan(100 * max), "the logits hardly depend on the clip");
        return max;
    }

    /// <summary>The models <c>dfer export --onnx</c> writes (every op of their graphs has a form).</summary>
    public static IEnumerable<string> ExportableModels() => ["m3dfel", "ifdd", "rdfer"];

    [TestCaseSource(nameof(ExportableModels))]
    public void FixedBatch2_MatchesTheCpuBackend(string name)
    {
        ulong seed = TestSeed.UseFresh();
        var model = ModelRegistry.Get(name);
        var weights = model.GenerateWeights(seed);
        using var session = OnnxRuntimeSupport.Open(OnnxExport.Write(model, weights, batch: 2));
        Assert.That(session.InputMetadata[OnnxExport.InputName].Dimensions, Is.EqualTo((int[])[2, .. model.ClipShape]));
        Assert.That(session.OutputMetadata["logits"].Dimensions, Is.EqualTo(new[] { 2, Classes }));
        Assert.That(session.OutputMetadata["probabilities"].Dimensions, Is.EqualTo(new[] { 2, Classes }));
        Assert.That(Compare(model, session, weights, 2, seed + 1), Is.LessThanOrEqualTo(1e-4), $"seed {seed}");
    }

    [TestCaseSource(nameof(ExportableModels))]
    public void DynamicBatch_MatchesTheCpuBackendAtBatch1And3(string name)
    {
        ulong seed = TestSeed.UseFresh();
        var model = ModelRegistry.Get(name);
        var weights = model.GenerateWeights(seed);
        using var session = OnnxRuntimeSupport.Open(OnnxExport.Write(model, weights, batch: null));
        Assert.That(session.InputMetadata[OnnxExport.InputName].Dimensions,
            Is.EqualTo((int[])[-1, .. model.ClipShape]));
        Assert.That(session.InputMetadata[OnnxExport.InputName].SymbolicDimensions[0], Is.EqualTo("batch"));
        Assert.That(session.OutputMetadata["logits"].Dimensions, Is.EqualTo(new[] { -1, Classes }));
        Assert.That(Compare(model, session, weights, 1, seed + 1), Is.LessThanOrEqualTo(1e-4), $"seed {seed}");
        Assert.That(Compare(model, session, weights, 3, seed + 2), Is.LessThanOrEqualTo(1e-4), $"seed {seed}");
    }

    [Test]
    public void TheFile_NamesTheModelAndItsClasses()
    {
        var model = ModelRegistry.Get("m3dfel", ClassOrder.Ferv39k);
        using var session = OnnxRuntimeSupport.Open(OnnxExport.Write(model, model.GenerateWeights(3), batch: 1));
        var meta = session.ModelMetadata;
        Assert.That(meta.ProducerName, Is.EqualTo("dfer"));
        Assert.That(meta.CustomMetadataMap["model"], Is.EqualTo("m3dfel"));
        Assert.That(meta.CustomMetadataMap["classes"], Is.EqualTo(string.Join(",", model.Classes)));
        Assert.That(meta.CustomMetadataMap["classes"], Does.StartWith("angry,"));
    }

    [TestCase(16)]
    [TestCase(22)]
    public void AnOpsetOutsideTheRange_IsRefused(int opset)
    {
        var model = ModelRegistry.Get("m3dfel");
        var e = Assert.Throws<DferException>(() => OnnxExport.Write(model, model.GenerateWeights(1), null, opset));
        Assert.That(e!.Message, Is.EqualTo($"opset {opset}: dfer writes opsets 17 to 21"));
    }
}
