using Dfer.Backends;
using Dfer.Devices.Cpu;
using Dfer.Ops;
using Dfer.Ops.Lifting;
using Dfer.Primitives;
using Dfer.Runtime;
using Dfer.Tensors;

namespace Dfer.Tests.Ops;

/// <summary>The lifting op (ifdd.md §3.5.1 steps 7–8, 3.5.2, 3.5.3) on hand-checked values, its cost, and kernel
/// reuse across sizes.</summary>
[TestFixture]
public class LiftingTests
{
    /// <summary>
    /// One token per side (T 1, S 1, K 1), C 2, one head: both sides sample the only frame, Y = [3, 1], so
    /// with unit LN weights Xa = Xd = u = [r, −r], r = 1/√(1 + 1e-5). With one key the attention weight is 1
    /// and CA = V + V (value residual). kv's V rows are the identity, project_a = I with bias [0.5, 0]:
    /// Xa' = u + 2u + [0.5, 0]; project_d = 2I with bias [0, 1]: Xd' = u − (4·Xa' + [0, 1]) = −11u − [2, 1].
    /// </summary>
    private static LiftingOp OneTokenOp()
    {
        float[] ones = [1f, 1f], zeros = [0f, 0f];
        var norm = new LayerNormWeights(2, ones, zeros, 1e-5);
        // Query and key weights do not matter with a single key.
        var q = new LinearWeights(2, 2, [0.3f, -0.7f, 1.1f, 0.2f], [0.1f, -0.4f]);
        var kv = new LinearWeights(2, 4, [0.9f, -0.2f, 0.5f, 0.6f, 1f, 0f, 0f, 1f], [0.2f, 0.3f, 0f, 0f]);
        var projA = new LinearWeights(2, 2, [1f, 0f, 0f, 1f], [0.5f, 0f]);
        var projD = new LinearWeights(2, 2, [2f, 0f, 0f, 2f], [0f, 1f]);
        return new LiftingOp(1, 2, 7, norm, norm, q, kv, projA, q, kv, projD);
    }

    private static double[] OneTokenExpected()
    {
        double r = 1 / Math.Sqrt(1 + 1e-5);
        return [-11 * r - 2, 11 * r - 1];
    }

    [Test]
    public void Lifting_OneTokenPerSide_Reference_IsHandChecked()
    {
        var op = OneTokenOp();
        double[] y = LiftingReference.Run(op, [3, 1], [1, 1, 1, 2], [0.4], [5.5], [1, 1]);
        Assert.That(y, Is.EqualTo(OneTokenExpected()).Within(1e-12));
    }

    [TestCase("cpu")]
    [TestCase("ilgpu-cpu")]
    public void Lifting_OneTokenPerSide_Kernels_AreHandChecked(string backendName)
    {
        var op = OneTokenOp();
        using IBackend backend = BackendRegistry.Create(backendName, threads: 2);
        GuardedOutput y = ((IOpRunner)backend)
            .RunGuarded(op, [[3f, 1f], [0.4f], [5.5f]], [[1, 1, 1, 2], [1, 1], [1, 1]], 16, 1234.5f);
        Assert.That(y.GuardWrites, Is.Zero);
        Assert.That(y.Values.Select(v => (double)v), Is.EqualTo(OneTokenExpected()).Within(1e-5));
    }

    [Test]
    public void Lifting_Cost_CountsSixProjectionsAndTwoAttentions()
    {
        // B 2, T 3, S 2, 2 heads × 3 (C 6), K 2 → N 4 tokens per item, 8 rows.
        var op = Make(2, 3);
        int[][] shapes = [[2, 3, 2, 6], [2, 2], [2, 2]];
        Assert.That(op.OutputShape(shapes), Is.EqualTo(new[] { 2, 4, 6 }));
        long projections = 2L * 8 * (36 + 72 + 36 + 36 + 72 + 36);   // 8 rows × 8C² MACs
        // 2 CAs × (QKᵀ + PV) × 2 FLOPs × B·H × N·N·hd MACs
        long attention = 2 * 2 * 2L * (2 * 2) * (4 * 4 * 3);
        Assert.That(op.Flops(shapes), Is.EqualTo(projections + attention));
        Assert.That(op.WeightElements, Is.EqualTo(2 * 12 + 4 * 42 + 2 * 84));
        Assert.Throws<ArgumentException>(() => op.OutputShape([[2, 3, 2, 6], [2, 2], [2, 3]]));
        Assert.Throws<ArgumentException>(() => op.OutputShape([[2, 3, 2, 5], [2, 2], [2, 2]]));
    }

    private static LiftingOp Make(int heads, int hd, ulong seed = 5)
    {
        var rng = new DeterministicRandom(seed);
        int c = heads * hd;
        LayerNormWeights Norm() => new(c, rng.Uniform(c, 0.5f, 1.5f), rng.Uniform(c, -0.5f, 0.5f), 1e-5);
        float bound = (float)Math.Sqrt(3.0 / c);
        LinearWeights Lin(int o) => new(c, o, rng.Uniform(o * c, -bound, bound), rng.Uniform(o, -0.5f, 0.5f));
        return new LiftingOp(heads, hd, 7, Norm(), Norm(), Lin(c), Lin(2 * c), Lin(c), Lin(c), Lin(2 * c), Lin(c));
    }

    /// <summary>One CPU kernel instance run on a small, then a larger, then the small batch again: its scratch grows
    /// and is reused.</summary>
    [Test]
    public unsafe void LiftingCpu_ReusedAcrossSizes_MatchesTheReference()
    {
        var op = Make(2, 5);
        using var kernel = new LiftingCpu(op);
        using var ctx = new CpuContext(3);
        var rng = new DeterministicRandom(TestSeed.Use(11));
        foreach (var (b, t, s, k) in new[] { (1, 3, 2, 1), (2, 8, 5, 4), (1, 3, 2, 1) })
        {
            int[] ys = [b, t, s, 10], idxShape = [b, k];
            float[] y = rng.Uniform(b * t * s * 10, -1f, 1f), ia = rng.Uniform(b * k, -1f, t + 1f),
                id = rng.Uniform(b * k, -1f, t + 1f);
            double[] expected = LiftingReference.Run(op, y.Select(v => (double)v).ToArray(), ys,
                ia.Select(v => (double)v).ToArray(), id.Select(v => (double)v).ToArray(), idxShape);
            int[] os = op.OutputShape([ys, idxShape, idxShape]);
            using var buf = new NativeBuffer(Tensor.ElementCountOf(os) * sizeof(float));
            var output = new Tensor(buf, 0, os, Tensor.ContiguousStrides(os));
            kernel.Run(ctx, [Tensor.FromArray(y, ys), Tensor.FromArray(ia, idxShape), Tensor.FromArray(id, idxShape)],
                output);
            float[] got = new Span<float>(output.Data, (int)Tensor.ElementCountOf(os)).ToArray();
            Comparison cmp = Numerics.Compare(got, expected);
            Assert.That(cmp.Passed, Is.True, $"b={b} t={t} s={s} k={k}: {cmp}");
        }
    }
}
