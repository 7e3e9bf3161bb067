using Dfer.Backends;
using Dfer.Ops.Gelu;
using Dfer.Reference;
using static TorchSharp.torch;

namespace Dfer.Tests.Ops;

/// <summary>
/// The float erf behind the GELU kernels against the float64 Reference on a dense grid over
/// [−10, 10] plus ±∞ and NaN, on the host and compiled by ILGPU; and the Reference's erf against PyTorch's.
/// </summary>
[TestFixture]
[NonParallelizable]
public class GeluErfTests
{
    private static float[] Grid()
    {
        var xs = new List<float>();
        for (int i = -20000; i <= 20000; i++) xs.Add(i * 5e-4f);
        xs.AddRange(new[] { 1e-30f, -1e-30f, 1e-7f, 0.999999f, 1.000001f, 9.99999f, 10.00001f, 30f, -30f });
        return xs.ToArray();
    }

    private static readonly float[] Special = { float.PositiveInfinity, float.NegativeInfinity, float.NaN };

    [Test]
    public void ErfF_MatchesReferenceErf_Within2e7Relative()
    {
        double worst = 0;
        float at = 0;
        foreach (float x in Grid())
        {
            double want = GeluReference.Erf(x), got = ErfF.Erf(x);
            double rel = Math.Abs(got - want) / Math.Max(Math.Abs(want), 1e-38);
            if (rel > worst) (worst, at) = (rel, x);
        }
        TestContext.Out.WriteLine($"erf: worst relative error {worst:e2} at x = {at}");
        Assert.That(worst, Is.LessThanOrEqualTo(2e-7), $"at x = {at}");
        Assert.That(ErfF.Erf(float.PositiveInfinity), Is.EqualTo(1f));
        Assert.That(ErfF.Erf(float.NegativeInfinity), Is.EqualTo(-1f));
        Assert.That(float.IsNaN(ErfF.Erf(float.NaN)), Is.True);
        Assert.That(float.IsNaN(ErfF.Erfc(float.NaN)), Is.True);
        Assert.That(ErfF.Erf(0f), Is.EqualTo(0f));
    }

    [Test]
    public void ErfcF_KeepsRelativeAccuracyInTheTail()
    {
        double worst = 0;
        float at = 0;
        // Up to x = 9, where erfc ≈ 4e-37 is still a normal float.
        foreach (float x in Grid().Where(v => v <= 9f))
        {
            double want = GeluReference.Erfc(x), got = ErfF.Erfc(x);
            double rel = Math.Abs(got - want) / want;
            if (rel > worst) (worst, at) = (rel, x);
        }
        TestContext.Out.WriteLine($"erfc: worst relative error {worst:e2} at x = {at}");
        // exp(−x²) of a rounded x carries up to ~2x² ulp, the bound grows with x.
        Assert.That(worst, Is.LessThanOrEqualTo(2e-5), $"at x = {at}");
        Assert.That(ErfF.Erfc(float.PositiveInfinity), Is.EqualTo(0f));
        Assert.That(ErfF.Erfc(float.NegativeInfinity), Is.EqualTo(2f));
    }

    [Test]
    public void GeluF_HostAndIlgpu_MatchReference()
    {
        // Specials first too, so they also land inside an 8-lane block of the CPU's vector path.
        float[] xs = Special.Concat(Grid().Select(v => v * 1.5f)).Concat(Special).ToArray();
        using var backend = BackendRegistry.Create("ilgpu-cpu", threads: 2);
        var ilgpu = ((IOpRunner)backend)
            .RunGuarded(new GeluOp(), new[] { xs }, new[] { new[] { xs.Length } }, 16, 12345f);
        Assert.That(ilgpu.GuardWrites, Is.Zero);
        using var cpuBackend = BackendRegistry.Create("cpu", threads: 2);
        var cpu = ((IOpRunner)cpuBackend)
            .RunGuarded(new GeluOp(), new[] { xs }, new[] { new[] { xs.Length } }, 16, 12345f);
        Assert.That(cpu.GuardWrites, Is.Zero);
        for (int i = 0; i < xs.Length; i++)
        {
            double want = GeluReference.Gelu(xs[i]);
            // In the negative tail exp(−x²/2) carries the rounding of x/√2 and of its square: ~x²·ulp relative.
            foreach (var (name, got) in new[] { ("host", ErfF.Gelu(xs[i])), ("ilgpu-cpu", ilgpu.Values[i]),
                ("cpu (vector)", cpu.Values[i]) })
            {
                if (double.IsNaN(want) || double.IsInfinity(want))
                {
                    Assert.That((double)got, Is.EqualTo(want), $"{name} gelu({xs[i]})");
                    continue;
                }
                Assert.That(Math.Abs(got - want),
                    Is.LessThanOrEqualTo((3e-7 + 1.2e-7 * xs[i] * xs[i]) * Math.Abs(want) + 1e-38),
                    $"{name} gelu({xs[i]}) = {got}, want {want}");
            }
        }
    }

    [Test]
    public void ReferenceErf_MatchesTorch()
    {
        _ = new TorchOracle(); // loads libtorch
        double[] xs = Grid().Select(v => (double)v).Concat(new[] { 1.4999999, 1.5000001, 5.5, -7.25 }).ToArray();
        using var scope = NewDisposeScope();
        double[] erf = tensor(xs, ScalarType.Float64).erf().data<double>().ToArray();
        double[] erfc = tensor(xs, ScalarType.Float64).erfc().data<double>().ToArray();
        for (int i = 0; i < xs.Length; i++)
        {
            Assert.That(GeluReference.Erf(xs[i]), Is.EqualTo(erf[i]).Within(1e-14), $"erf({xs[i]})");
            Assert.That(GeluReference.Erfc(xs[i]), Is.EqualTo(erfc[i]).Within(1e-13 * erfc[i] + 1e-300),
                $"erfc({xs[i]})");
        }
    }
}
