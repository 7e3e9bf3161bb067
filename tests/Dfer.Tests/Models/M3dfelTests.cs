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
/// M3DFEL end to end: Dfer's CPU backend (folded BatchNorm, our kernels) against the original
/// model written in TorchSharp from the spec (unfolded, float64), on weights and clips never seen before.
/// </summary>
[TestFixture]
public class M3dfelTests
{
    private static readonly M3dfel Model = new();
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

    [Test]
    public void LogitsMatchTorchFloat64OnFreshWeightsAndClips()
    {
        ulong seed = TestSeed.UseFresh();
        var weights = Model.GenerateWeights(seed);
        const int batch = 2;
        var clips = new DeterministicRandom(seed + 1).Uniform(batch * 16 * 3 * 112 * 112, 0, 1);
        // Clip 1 is dim noise over a bright diagonal ramp, so the two clips' logits differ clearly.
        int clip = 16 * 3 * 112 * 112;
        for (int i = 0; i < clip; i++)
            clips[clip + i] = 0.2f * clips[clip + i] + 0.8f * ((i % 112) + (i / 112 % 112)) / 222f;
        using var session = new Session(Model, weights, _cpu);
        var ours = session.Run(clips, batch);
        using var torchModel = new TorchM3dfel(ToTorch(weights), torch.ScalarType.Float64);
        var reference = torchModel.Forward(clips, batch);
        double max = 0, spread = 0;
        for (int b = 0; b < batch; b++)
            for (int c = 0; c < 7; c++)
            {
                Assert.That(float.IsFinite(ours[b].Logits[c]), $"clip {b} logit {c} is {ours[b].Logits[c]}");
                max = Math.Max(max, Math.Abs(ours[b].Logits[c] - reference[b * 7 + c]));
                spread = Math.Max(spread, Math.Abs(reference[b * 7 + c] - reference[c]));
            }
        TestContext.Out.WriteLine($"seed {seed}: max |Δlogit| = {max:E2}, logits spread {spread:F3}");
        Assert.That(max, Is.LessThanOrEqualTo(1e-4), $"seed {seed}");
        // The check is only meaningful if the logits depend on the input.
        Assert.That(spread, Is.GreaterThan(100 * max),
            "the clips' logits barely differ; the comparison would prove little");
        for (int b = 0; b < batch; b++)
        {
            var p = ours[b].Probabilities;
            Assert.That(p.Sum(), Is.EqualTo(1).Within(1e-5));
            Assert.That(ours[b].Label, Is.EqualTo(EmotionClasses.Seven[Array.IndexOf(p, p.Max())]));
        }
    }

    [Test]
    public void BatchedClipsEqualClipsRunAlone()
    {
        ulong seed = TestSeed.Use(11);
        var weights = Model.GenerateWeights(seed);
        var clips = new DeterministicRandom(seed + 1).Uniform(3 * 16 * 3 * 112 * 112, 0, 1);
        using var session = new Session(Model, weights, _cpu);
        var batched = session.Run(clips, 3);
        var alone = session.Run(clips.AsSpan(2 * session.ClipLength, session.ClipLength), 1);
        Assert.That(alone[0].Logits, Is.EqualTo(batched[2].Logits).Within(1e-5));
    }

    [Test]
    public void AcceptsDataParallelPrefix()
    {
        var plain = Model.GenerateWeights(3);
        var prefixed = new StateDict("prefixed");
        foreach (var n in plain.Names)
            prefixed.Add(StateDict.StripPrefix("module." + n), plain[n].DType, plain[n].Shape, plain[n].Data);
        Assert.DoesNotThrow(() => Model.Build(prefixed));
    }

    [Test]
    public void ReportsMissingUnexpectedAndMisshapenKeysByName()
    {
        var good = Model.GenerateWeights(4);
        var bad = new StateDict("bad.safetensors");
        foreach (var n in good.Names)
        {
            if (n == "fc.bias") continue;
            var t = good[n];
            var shape = n == "to_qkv.weight" ? new long[] { 3072, 512 } : t.Shape;
            bad.Add(n, t.DType, shape, t.Data);
        }
        bad.Add("head.extra", DType.F32, new long[] { 1 }, new float[] { 0 });
        var e = Assert.Throws<DferException>(() => Model.Build(bad))!;
        Assert.That(e.Message, Does.StartWith("bad.safetensors: "));
        Assert.That(e.Message, Does.Contain("fc.bias").And.Contain("head.extra").And.Contain("to_qkv.weight"));
        Assert.That(e.Message, Does.Not.Contain("\n"));
    }

    [Test]
    public void RefusesWeightsOfAnotherModel()
    {
        var other = new StateDict("resnet.safetensors");
        other.Add("conv1.weight", DType.F32, new long[] { 64, 3, 7, 7 }, new float[64 * 3 * 49]);
        var e = Assert.Throws<DferException>(() => Model.Build(other))!;
        Assert.That(e.Message, Does.Contain("not M3DFEL weights"));
    }

    [Test]
    public void RefusesNonFiniteWeights()
    {
        var sd = Model.GenerateWeights(5);
        sd["lstm.bias_hh_l1"].Data[17] = float.NaN;
        var e = Assert.Throws<DferException>(() => Model.Build(sd))!;
        Assert.That(e.Message, Does.Contain("lstm.bias_hh_l1").And.Contain("NaN"));
    }

    [Test]
    public void RefusesNonFiniteInputNamingTheClip()
    {
        using var session = new Session(Model, Model.GenerateWeights(6), _cpu);
        var clips = new float[2 * session.ClipLength];
        clips[session.ClipLength + 99] = float.PositiveInfinity;
        var e = Assert.Throws<DferException>(() => session.Run(clips, 2, "x.npy"))!;
        Assert.That(e.Message, Does.StartWith("x.npy: clip 1 contains Inf"));
    }
}
