using Dfer.Backends.Cpu;
using Dfer.Models;
using Dfer.Reference;
using Dfer.Runtime;
using Dfer.Tensors;
using Dfer.TorchSupport;
using Dfer.Weights;
using TorchSharp;

namespace Dfer.Tests.Models;

/// <summary>
/// RDFER end to end: Dfer's CPU backend (folded BatchNorm, our kernels) against the model written separately in
/// TorchSharp from docs/models/rdfer.md (unfolded, float64), stage by stage, on weights and 64-frame clips never seen
/// before.
/// </summary>
[TestFixture]
[NonParallelizable]
public class RdferTests
{
    private static readonly Rdfer Model = new();
    private const int Clip = Rdfer.ClipFrames * 3 * 112 * 112;
    private CpuBackend _cpu = null!;

    [OneTimeSetUp]
    public void SetUp()
    {
        TorchRuntime.EnsureLoaded();
        _cpu = new CpuBackend(2);
    }

    [OneTimeTearDown] public void TearDown() => _cpu.Dispose();

    private static Dictionary<string, (float[] Data, long[] Shape)> ToTorch(StateDict sd) =>
        sd.Names.ToDictionary(n => n, n => (sd[n].Data, sd[n].Shape));

    /// <summary>Clip 0 is noise; clip 1 dim noise over a bright diagonal ramp that brightens over time, so the two
    /// clips' logits and key frames differ.</summary>
    private static float[] Clips(ulong seed, int batch)
    {
        var clips = new DeterministicRandom(seed).Uniform((long)batch * Clip, 0, 1);
        for (int b = 1; b < batch; b++)
            for (int i = 0; i < Clip; i++)
            {
                int t = i / (3 * 112 * 112);
                clips[b * Clip + i] = 0.2f * clips[b * Clip + i]
                    + 0.8f * ((i % 112) + (i / 112 % 112) + t) / (222f + Rdfer.ClipFrames);
            }
        return clips;
    }

    [Test]
    public void StagesLogitsAndKeyFramesMatchTorchFloat64()
    {
        ulong seed = TestSeed.UseFresh();
        var weights = Model.GenerateWeights(seed);
        const int batch = 2;
        float[] clips = Clips(seed + 1, batch);
        var graph = Model.Build(weights, stages: true);
        using var exe = _cpu.Compile(graph);
        var ours = exe.Run(clips, [batch, Rdfer.ClipFrames, 3, 112, 112]);
        using var oracle = new TorchRdfer(ToTorch(weights), torch.ScalarType.Float64);
        RdferStages r = oracle.Forward(clips, batch);

        var report = new List<string>();
        void Compare(string name, double[] reference, float[] actual, double tolerance)
        {
            Assert.That(actual, Has.Length.EqualTo(reference.Length), name);
            double max = 0, scale = 0;
            for (int i = 0; i < actual.Length; i++)
            {
                Assert.That(float.IsFinite(actual[i]), $"{name}[{i}] is {actual[i]} (seed {seed})");
                max = Math.Max(max, Math.Abs(actual[i] - reference[i]));
                scale = Math.Max(scale, Math.Abs(reference[i]));
            }
            report.Add($"{name} {max:E1}/{scale:F2}");
            Assert.That(max, Is.LessThanOrEqualTo(tolerance * Math.Max(1, scale)),
                $"{name}: max |Δ| {max:E2} (values up to {scale:F3}; seed {seed})");
        }
        // Backbone stages: channels-last here, NCHW in the oracle; fp32 over up to 53 convolutions.
        Compare("snet.stem", r.SnetStem, ToNchw(ours["snet.stem"], batch * 16, 28, 64), 1e-4);
        int[] sides = [28, 14, 7, 4], widths = [256, 512, 1024, 2048];
        for (int l = 0; l < 4; l++)
        {
            Compare($"snet.layer{l + 1}", r.SnetLayers[l],
                ToNchw(ours[$"snet.layer{l + 1}"], batch * 16, sides[l], widths[l]), 1e-4);
            Compare($"dnet.layer{l + 1}", r.DnetLayers[l],
                ToNchw(ours[$"dnet.layer{l + 1}"], batch * 16, sides[l], widths[l]), 1e-4);
        }
        Compare("snet.features", r.SnetFeatures, ours["snet.features"], 1e-4);
        Compare("snet.lstm", r.SnetLstm, ours["snet.lstm"], 1e-4);
        Compare("snet.gate", r.SnetGate, ours["snet.gate"], 1e-4);
        Compare("snet.bag", r.SnetBag, ours["snet.bag"], 1e-4);
        Compare("mu", r.Mu, ours["mu"], 1e-4);
        Compare("delta", r.Delta, ours["delta"], 1e-4);
        Compare("attn", r.Attn, ours["attn"], 1e-4);
        Compare("snet_logits", r.SnetLogits, ours["snet_logits"], 1e-4);
        Assert.That(ours["key_frames"].Select(k => (int)k).ToArray(), Is.EqualTo(r.KeyFrames),
            $"key frames (seed {seed})");
        Compare("dnet.features", r.DnetFeatures, ours["dnet.features"], 1e-4);
        Compare("dnet.lstm", r.DnetLstm, ours["dnet.lstm"], 1e-4);
        Compare("dnet.gate", r.DnetGate, ours["dnet.gate"], 1e-4);
        Compare("dnet.bag", r.DnetBag, ours["dnet.bag"], 1e-4);
        Compare("logits", r.Logits, ours["logits"], 1e-4);
        TestContext.Out.WriteLine($"seed {seed}: " + string.Join("; ", report));
        TestContext.Out.WriteLine($"key frames {string.Join(",", r.KeyFrames)}");

        double maxLogit = 0, spread = 0;
        for (int i = 0; i < 7; i++)
        {
            maxLogit = Math.Max(maxLogit, Math.Abs(ours["logits"][7 + i] - r.Logits[7 + i]));
            spread = Math.Max(spread, Math.Abs(r.Logits[7 + i] - r.Logits[i]));
        }
        Assert.That(maxLogit, Is.LessThanOrEqualTo(1e-4));
        // The check is only meaningful if the logits depend on the input.
        Assert.That(spread, Is.GreaterThan(100 * Math.Max(maxLogit, 1e-6)),
            "the clips' logits barely differ; the comparison would prove little");
        Assert.That(r.KeyFrames.Take(16), Is.Not.EqualTo(r.KeyFrames.Skip(16)),
            "both clips got the same key frames; the sampler's inputs hardly depend on the clip");
    }

    /// <summary>[N, H, W, C] → [N, C, H, W].</summary>
    private static float[] ToNchw(float[] x, int n, int side, int c)
    {
        var y = new float[x.Length];
        int plane = side * side;
        for (int b = 0; b < n; b++)
            for (int p = 0; p < plane; p++)
                for (int ch = 0; ch < c; ch++)
                    y[((long)b * c + ch) * plane + p] = x[((long)b * plane + p) * c + ch];
        return y;
    }

    [Test]
    public void BatchOneWorksAndEqualsItsClipInABatch()
    {
        ulong seed = TestSeed.Use(23);
        using var session = new Session(Model, Model.GenerateWeights(seed), _cpu);
        float[] clips = Clips(seed + 1, 2);
        var batched = session.Run(clips, 2);
        var alone = session.Run(clips.AsSpan(Clip, Clip), 1);
        Assert.That(alone[0].Logits, Is.EqualTo(batched[1].Logits).Within(1e-5));
        Assert.That(alone[0].KeyFrames, Is.EqualTo(batched[1].KeyFrames));
        Assert.That(alone[0].KeyFrames, Has.Length.EqualTo(16));
        Assert.That(alone[0].KeyFrames!.All(k => k >= -1 && k < Rdfer.ClipFrames));
        var p = alone[0].Probabilities;
        Assert.That(p.Sum(), Is.EqualTo(1).Within(1e-5));
        Assert.That(alone[0].Label, Is.EqualTo(EmotionClasses.Seven[Array.IndexOf(p, p.Max())]));
    }

    [Test]
    public void Ferv39kOrderLabelsTheSameOutputsWithItsNames()
    {
        var weights = Model.GenerateWeights(7);
        float[] clip = Clips(8, 1);
        using var dfew = new Session(Model, weights, _cpu);
        using var ferv = new Session(ModelRegistry.Get("rdfer", ClassOrder.Ferv39k), weights, _cpu);
        ClipResult a = dfew.Run(clip, 1)[0], b = ferv.Run(clip, 1)[0];
        Assert.That(b.Logits, Is.EqualTo(a.Logits));
        int best = Array.IndexOf(a.Probabilities, a.Probabilities.Max());
        Assert.That(a.Label, Is.EqualTo(EmotionClasses.Seven[best]));
        Assert.That(b.Label, Is.EqualTo(EmotionClasses.Ferv39k[best]));
    }

    [Test]
    public void StateDictKeysAreTheOriginalModelsInOrder()
    {
        var lines = File.ReadAllLines(Path.Combine(Devices.CudaTestSupport.RepoRoot, "docs", "models",
            "rdfer-state-dict.txt")).Where(l => l.Length > 0).ToArray();
        Assert.That(Model.StateDictKeys.Select(k => $"{k.Name} [{string.Join(",", k.Shape)}]"), Is.EqualTo(lines));
    }

    [Test]
    public void ReportsMissingUnexpectedAndMisshapenKeysByName()
    {
        var good = Model.GenerateWeights(4);
        var bad = new StateDict("bad.pth.tar");
        foreach (var n in good.Names)
        {
            if (n == "snet.s2d_fc2.bias") continue;
            var t = good[n];
            var shape = n == "dnet.pwconv.weight" ? new long[] { 1, 16, 3 } : t.Shape;
            bad.Add(n, t.DType, shape, n == "dnet.pwconv.weight" ? new float[48] : t.Data);
        }
        bad.Add("snet.extra", DType.F32, [1], [0]);
        var e = Assert.Throws<DferException>(() => Model.Build(bad))!;
        Assert.That(e.Message, Does.StartWith("bad.pth.tar: "));
        Assert.That(e.Message,
            Does.Contain("snet.s2d_fc2.bias").And.Contain("snet.extra").And.Contain("dnet.pwconv.weight"));
        Assert.That(e.Message, Does.Not.Contain("\n"));
    }

    [Test]
    public void RefusesNonFiniteWeightsAndNegativeVariances()
    {
        var sd = Model.GenerateWeights(5);
        sd["dnet.lstm.bias_hh_l1"].Data[17] = float.NaN;
        var e = Assert.Throws<DferException>(() => Model.Build(sd))!;
        Assert.That(e.Message, Does.Contain("dnet.lstm.bias_hh_l1").And.Contain("NaN"));
        sd = Model.GenerateWeights(5);
        sd["snet.model.base_model.layer3.2.bn2.running_var"].Data[3] = -1;
        e = Assert.Throws<DferException>(() => Model.Build(sd))!;
        Assert.That(e.Message, Does.Contain("layer3.2.bn2.running_var"));
    }
}
