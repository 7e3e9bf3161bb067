using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Onnx;
using Dfer.Tensors;

namespace Dfer.Ops.AdaptiveSplit;

/// <summary>The issm op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class AdaptiveSplitKind : OpKind<AdaptiveSplitOp>
{
    public static AdaptiveSplitKind Instance { get; } = new();

    private AdaptiveSplitKind() { }

    public override string Name => "issm";

    protected override double[] RunReference(AdaptiveSplitOp op, IReadOnlyList<double[]> x,
        IReadOnlyList<int[]> shapes) =>
        AdaptiveSplitReference.Run(op, x[0], shapes[0]);

    protected override ICpuKernel CpuKernel(AdaptiveSplitOp op) => new AdaptiveSplitCpu(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, AdaptiveSplitOp op)
        => new AdaptiveSplitIlgpu(device, op);

    protected override IOnnxForm? OnnxForm(AdaptiveSplitOp op) => new AdaptiveSplitOnnx(op);

    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng)
    {
        // (b, t, m, base, similarity scale, offset scale, negate, feature range, weight bound).
        // IFDD: 8 frames of 343 GELU'd features (GELU ≥ −0.17), S = f·fᵀ/768 = O(1); offset weights
        // large enough that tanh is well off its linear part; approx (S, even bases) and detail (−S, odd bases).
        var shapes = new (int b, int t, int m, float[] baseIndex, double scale, double offScale, bool negate,
            (float Lo, float Hi) range, float w, string name)[]
        {
            (1, 1, 1, new[] { 0.5f }, 1.0, 1.0, false, (-1f, 1f), 1f, ""),
            (3, 3, 5, new[] { 1f, 2f }, 0.7, 1.5, true, (-1f, 1f), 1.5f, ""),
            (2, 5, 17, new[] { 0f, 1.5f, 3f }, 0.25, 2.0, false, (-0.5f, 1.5f), 1f, ""),
            (2, 8, 343, new[] { 0f, 2f, 4f, 6f }, 1.0 / 768, 2.0, false, (-0.17f, 3f), 2f, ",approx"),
            (2, 8, 343, new[] { 1f, 3f, 5f, 7f }, 1.0 / 768, 2.0, true, (-0.17f, 3f), 2f, ",detail"),
        };
        return shapes.Select(c =>
        {
            int k = c.baseIndex.Length;
            var op = new AdaptiveSplitOp(c.t, rng.Uniform(k * c.t * c.t, -c.w, c.w), c.baseIndex, c.scale, c.offScale,
                c.negate);
            return new OpCase(
                $"issm(b={c.b},t={c.t},m={c.m},k={k},scale={c.scale:0.####},"
                + $"offset={c.offScale}{(c.negate ? ",negate" : "")}{c.name})",
                op, new[] { new[] { c.b, c.t, c.m } }, new[] { c.range });
        }).ToArray();
    }
}
