using Dfer.Backends;
using Dfer.Devices.Cuda;
using Dfer.Models;
using Dfer.Runtime;
using Dfer.Tensors;
using Dfer.Weights;

namespace Dfer.Tests.Runtime;

/// <summary>
/// Precision modes: the whole-model bounds of <see cref="ModelTolerance"/>, the registry's refusal of
/// reduced precision on fp32 backends, and — on a GPU only — M3DFEL on the cuda backend in each
/// precision against the fp32 cpu backend within those bounds.
/// </summary>
[TestFixture]
[NonParallelizable]
public class PrecisionModeTests
{
    private static readonly Precision[] All = Enum.GetValues<Precision>();

    [Test]
    public void ModelTolerance_Fp32_IsTheHouseRule()
    {
        Assert.That(ModelTolerance.Fp32.MaxAbsLogit, Is.EqualTo(1e-4));
        Assert.That(ModelTolerance.Fp32.MinAgreement, Is.EqualTo(1.0));
        Assert.That(ModelValidation.LogitTolerance, Is.EqualTo(ModelTolerance.Fp32.MaxAbsLogit), "one definition");
    }

    [Test]
    public void ModelTolerance_For_MapsEveryPrecision_ToItsOwnBounds()
    {
        Assert.That(All.Select(ModelTolerance.For),
            Is.EqualTo(new[] { ModelTolerance.Fp32, ModelTolerance.Tf32, ModelTolerance.Bf16, ModelTolerance.Fp16 }));
        foreach (Precision p in All)
        {
            ModelTolerance t = ModelTolerance.For(p);
            Assert.That(t.MaxAbsLogit, Is.GreaterThan(0).And.LessThan(1),
                $"{p.Name()}: a logit bound below one logit unit, or it cannot catch a wrong kernel");
            Assert.That(t.MinAgreement, Is.GreaterThanOrEqualTo(0.5).And.LessThanOrEqualTo(1.0), p.Name());
        }
    }

    /// <summary>Coarser arithmetic never gets a tighter bound: fp32 ≤ tf32 = fp16 ≤ bf16, as the per-op NMSE bounds
    /// order them.</summary>
    [Test]
    public void ModelTolerance_IsOrderedLikeThePerOpTolerances()
    {
        ModelTolerance f32 = ModelTolerance.Fp32, t32 = ModelTolerance.Tf32, f16 = ModelTolerance.Fp16,
            b16 = ModelTolerance.Bf16;
        Assert.That(f32.MaxAbsLogit, Is.LessThan(t32.MaxAbsLogit));
        Assert.That(t32.MaxAbsLogit, Is.LessThanOrEqualTo(b16.MaxAbsLogit));
        Assert.That(f16.MaxAbsLogit, Is.LessThan(b16.MaxAbsLogit));
        Assert.That(f32.MinAgreement, Is.GreaterThanOrEqualTo(t32.MinAgreement));
        Assert.That(t32.MinAgreement, Is.GreaterThanOrEqualTo(b16.MinAgreement));
        Assert.That(f16.MinAgreement, Is.GreaterThanOrEqualTo(b16.MinAgreement));

        // Same order as the per-op bounds; equal per-op bounds give equal model bounds.
        var byOp = All.OrderBy(p => Tolerance.For(p).Nmse).ToArray();
        for (int i = 1; i < byOp.Length; i++)
            Assert.That(ModelTolerance.For(byOp[i]).MaxAbsLogit,
                Is.GreaterThanOrEqualTo(ModelTolerance.For(byOp[i - 1]).MaxAbsLogit),
                $"{byOp[i - 1].Name()} → {byOp[i].Name()}");
        Assert.That(Tolerance.Tf32.Nmse, Is.EqualTo(Tolerance.Fp16.Nmse));
        Assert.That(ModelTolerance.Tf32, Is.EqualTo(ModelTolerance.Fp16));
    }

    /// <summary>The documented derivation: ε = 3·√(17·NMSE_op)·4 from the per-op bound, within
    /// rounding.</summary>
    [TestCase(Precision.Tf32)]
    [TestCase(Precision.Fp16)]
    [TestCase(Precision.Bf16)]
    public void ModelTolerance_FollowsFromThePerOpBoundAndM3dfelsDepth(Precision p)
    {
        double derived = 3 * Math.Sqrt(17 * Tolerance.For(p).Nmse) * 4;
        Assert.That(ModelTolerance.For(p).MaxAbsLogit, Is.EqualTo(derived).Within(5).Percent);
    }

    [Test]
    public void Agreement_CountsClipsWithTheSameArgMax()
    {
        float[] baseline = [1, 2, 0, /**/ 5, 1, 1, /**/ 0, 0, 3, /**/ 2, 2.1f, 0];
        float[] other = [1, 2.5f, 0, /**/ 1, 5, 1, /**/ 0, 0, 3, /**/ 2.2f, 2.1f, 0];
        Assert.That(ModelTolerance.Agreement(baseline, baseline, 3), Is.EqualTo(1.0));
        Assert.That(ModelTolerance.Agreement(other, baseline, 3), Is.EqualTo(0.5));
        Assert.Throws<ArgumentException>(() => ModelTolerance.Agreement(other.AsSpan(0, 9), baseline, 3));
    }

    [Test]
    public void Accepts_NeedsBothBounds()
    {
        ModelTolerance t = ModelTolerance.Bf16;
        Assert.That(t.Accepts(t.MaxAbsLogit, t.MinAgreement), Is.True);
        Assert.That(t.Accepts(t.MaxAbsLogit * 1.01, 1.0), Is.False);
        Assert.That(t.Accepts(0, t.MinAgreement - 0.01), Is.False);
        Assert.That(ModelTolerance.Fp32.Accepts(double.NaN, 1.0), Is.False, "NaN never passes");
    }

    [Test]
    public void Registry_CudaTakesEveryPrecision_TheOthersFp32Only()
    {
        Assert.That(BackendRegistry.Precisions("cuda"), Is.EquivalentTo(All));
        foreach (string name in BackendRegistry.Names.Where(n => n != "cuda"))
        {
            Assert.That(BackendRegistry.Precisions(name), Is.EqualTo(new[] { Precision.Fp32 }), name);
            Assert.DoesNotThrow(() => BackendRegistry.CheckPrecision(name, Precision.Fp32));
        }
        var ex = Assert.Throws<DferException>(() => BackendRegistry.Create("cpu", 1, Precision.Bf16))!;
        Assert.That(ex.Message,
            Is.EqualTo("--precision bf16: backend cpu computes in fp32 only; reduced precision runs on --backend "
                + "cuda"));
        using IBackend cpu = BackendRegistry.Create("cpu", 1, Precision.Fp32);
        Assert.That(BackendRegistry.PrecisionOf(cpu), Is.EqualTo(Precision.Fp32));
        Assert.That(BackendRegistry.PrecisionName(cpu), Is.EqualTo("fp32"));
    }

    [Test]
    public void Compare_JudgesAnFp32BackendByTheFp32Bounds()
    {
        IModel model = new M3dfel(size: 24);
        StateDict weights = model.GenerateWeights(3);
        using IBackend a = BackendRegistry.Create("cpu", 2), b = BackendRegistry.Create("cpu", 1);
        var checks = ModelValidation.Compare(model, weights, a, [b], batch: 2, seed: TestSeed.Use(9));
        Assert.That(checks.Select(c => c.Precision), Is.EqualTo(new[] { "fp32", "fp32" }));
        Assert.That(checks[1].Tolerance, Is.EqualTo(ModelTolerance.Fp32));
        Assert.That(checks[1].Agreement, Is.EqualTo(1.0));
        Assert.That(checks[1].Passed, checks[1].ToString());
    }

    // ---- GPU only -----------------------------------------------------------------------------

    private const int GpuClips = 12;
    private static (IModel Model, StateDict Weights, float[] Clips, float[] Logits)? _baseline;

    /// <summary>
    /// Clips with structure that differs per frame and per clip (16-pixel blocks, per-frame gain, a
    /// little noise), as perf/gpu/m3dfel_torch.py makes them: i.i.d. pixel noise averages out in the
    /// pooled features and gives every clip the same class.
    /// </summary>
    private static float[] StructuredClips(int clips, ulong seed)
    {
        var rng = new DeterministicRandom(TestSeed.Use(seed));
        const int frames = 16, size = 112, block = 16, cells = size / block;
        float[] coarse = rng.Uniform((long)clips * frames * 3 * cells * cells, 0f, 1f);
        float[] gain = rng.Uniform((long)clips * frames, 0.2f, 1f);
        float[] noise = rng.Uniform((long)clips * frames * 3 * size * size, -0.1f, 0.1f);
        var data = new float[noise.Length];
        for (int c = 0; c < clips; c++)
            for (int f = 0; f < frames; f++)
                for (int ch = 0; ch < 3; ch++)
                    for (int y = 0; y < size; y++)
                        for (int x = 0; x < size; x++)
                        {
                            long i = (((long)(c * frames + f) * 3 + ch) * size + y) * size + x;
                            float v = coarse[(((c * frames + f) * 3 + ch) * cells + y / block) * cells + x / block]
                                * gain[c * frames + f] + noise[i];
                            data[i] = Math.Clamp(v, 0f, 1f);
                        }
        return data;
    }

    private static float[] Logits(IBackend backend, IModel model, StateDict weights, float[] clips)
    {
        using var session = new Session(model, weights, backend);
        return session.Run(clips, GpuClips, "generated clips").SelectMany(r => r.Logits).ToArray();
    }

    /// <summary>
    /// Generated weights with fc scaled so that the cpu logits have RMS 4 (the scale the bounds are
    /// stated for; the stand-in head gives about 0.03, against which an absolute bound has no teeth),
    /// the clips, and the fp32 cpu backend's logits. Scaling fc's weight and bias scales every logit
    /// and every logit error alike.
    /// </summary>
    private static (IModel Model, StateDict Weights, float[] Clips, float[] Logits) Baseline()
    {
        if (_baseline is { } ready) return ready;
        IModel model = ModelRegistry.Get("m3dfel");
        StateDict weights = model.GenerateWeights(seed: 31);
        float[] clips = StructuredClips(GpuClips, 77);
        using IBackend cpu = BackendRegistry.Create("cpu");
        float[] logits = Logits(cpu, model, weights, clips);
        double rms = Math.Sqrt(logits.Average(v => (double)v * v));
        float scale = (float)(4 / rms);
        foreach (string name in new[] { "fc.weight", "fc.bias" })
        {
            float[] data = weights[name].Data;
            for (int i = 0; i < data.Length; i++) data[i] *= scale;
        }
        logits = Logits(cpu, model, weights, clips);
        _baseline = (model, weights, clips, logits);
        return _baseline.Value;
    }

    [TestCase(Precision.Fp32)]
    [TestCase(Precision.Tf32)]
    [TestCase(Precision.Bf16)]
    [TestCase(Precision.Fp16)]
    public void Cuda_M3dfel_AgreesWithCpu_WithinTheModelTolerance(Precision precision)
    {
        if (CudaDevice.UnavailableReason() is string reason) Assert.Ignore($"cuda: {reason}");
        var (model, weights, clips, expected) = Baseline();
        using IBackend cuda = BackendRegistry.Create("cuda", 0, precision);
        Assert.That(BackendRegistry.PrecisionOf(cuda), Is.EqualTo(precision));

        float[] logits = Logits(cuda, model, weights, clips);

        double worst = 0;
        for (int i = 0; i < logits.Length; i++) worst = Math.Max(worst, Math.Abs((double)logits[i] - expected[i]));
        if (logits.Any(v => !float.IsFinite(v))) worst = double.PositiveInfinity;
        double agreement = ModelTolerance.Agreement(logits, expected, model.Classes.Count);
        ModelTolerance tol = ModelTolerance.For(precision);
        string report = $"{precision.Name()}: max |Δlogit| {worst:G3} (bound {tol.MaxAbsLogit:G3}), same "
            + $"class {agreement:P0} (min {tol.MinAgreement:P0}) " +
            $"over {GpuClips} clips; cpu logits RMS {Math.Sqrt(expected.Average(v => (double)v * v)):G3}";
        TestContext.Out.WriteLine(report);
        Assert.That(worst, Is.LessThanOrEqualTo(tol.MaxAbsLogit), report);
        Assert.That(agreement, Is.GreaterThanOrEqualTo(tol.MinAgreement), report);
        Assert.That(tol.Accepts(worst, agreement), report);
    }
}
