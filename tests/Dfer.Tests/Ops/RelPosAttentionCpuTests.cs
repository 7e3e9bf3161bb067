using Dfer.Backends.Reference;
using Dfer.Devices.Cpu;
using Dfer.Ops.RelPosAttention;
using Dfer.Tensors;

namespace Dfer.Tests.Ops;

/// <summary>
/// IFDD's largest attention (block 0: 1 head, 25089 queries × 393 keys, d 96) on the CPU kernel: it
/// matches the float64 Reference and streams, allocating nothing near the 39 MB a materialised logit
/// matrix would take. Too big for the op matrix, whose cases also run on ilgpu-cpu.
/// </summary>
[TestFixture]
public class RelPosAttentionCpuTests
{
    private static readonly ulong Seed = TestSeed.Fresh();

    [Test]
    public void Block0_MatchesReference_WithoutMaterialisingTheLogits()
    {
        var rng = new DeterministicRandom(TestSeed.Print(Seed));
        int d = 96;
        float bound = (float)Math.Sqrt(3.0 / d);
        var op = new RelPosAttentionOp(1, d, (8, 56, 56), (8, 7, 7), rng.Uniform(15 * d, -bound, bound),
            rng.Uniform(111 * d, -bound, bound), rng.Uniform(111 * d, -bound, bound));
        int[] qs = [1, 1, 25089, d], ks = [1, 1, 393, d];
        float[] q = rng.Uniform(Tensor.ElementCountOf(qs), -1, 1), k = rng.Uniform(Tensor.ElementCountOf(ks), -1, 1),
            v = rng.Uniform(Tensor.ElementCountOf(ks), -1, 1);
        var inputs = new[] { Tensor.FromArray(q, qs), Tensor.FromArray(k, ks), Tensor.FromArray(v, ks) };
        var y = Tensor.Zeros(qs);
        using var ctx = new CpuContext(2);
        using var kernel = new RelPosAttentionCpu(op);
        kernel.Run(ctx, inputs, y);   // warm up (JIT, pool)

        long before = GC.GetTotalAllocatedBytes(precise: true);
        kernel.Run(ctx, inputs, y);
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.That(allocated, Is.LessThan(1 << 20), "the CPU kernel allocated like a materialised attention matrix");

        double[] expected = ReferenceBackend.RunOp(op,
            new[] { q, k, v }.Select(a => a.Select(x => (double)x).ToArray()).ToArray(), new[] { qs, ks, ks });
        float[] actual = y.ToArray();
        double err = 0, norm = 0;
        for (int i = 0; i < actual.Length; i++)
        {
            double e = actual[i] - expected[i];
            err += e * e; norm += expected[i] * expected[i];
            Assert.That(Math.Abs(e), Is.LessThanOrEqualTo(1e-5 + 1e-4 * Math.Abs(expected[i])),
                $"element {i} (seed {Seed})");
        }
        Assert.That(err / norm, Is.LessThanOrEqualTo(1e-7), $"NMSE (seed {Seed})");
    }
}
