using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Onnx;
using Dfer.Primitives;
using Dfer.Tensors;

namespace Dfer.Ops.Lifting;

/// <summary>The lifting op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class LiftingKind : OpKind<LiftingOp>
{
    public static LiftingKind Instance { get; } = new();

    private LiftingKind() { }

    public override string Name => "lifting";

    protected override double[] RunReference(LiftingOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes) =>
        LiftingReference.Run(op, x[0], shapes[0], x[1], x[2], shapes[1]);

    protected override ICpuKernel CpuKernel(LiftingOp op) => new LiftingCpu(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, LiftingOp op) => new LiftingIlgpu(device, op);

    protected override IOnnxForm? OnnxForm(LiftingOp op) => new LiftingOnnx(op);

    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng)
    {
        // (b, t, s, heads, hd, k, divisor); IFDD: 8 frames of 49 tokens, 8 heads × 96, K 4, divisor 7.
        var shapes = new (int b, int t, int s, int h, int d, int k, double div)[]
        {
            (1, 2, 1, 1, 2, 1, 1.0),
            (2, 5, 3, 2, 5, 2, 4.0),
            (1, 8, 7, 2, 24, 4, 7.0),
        };
        return shapes.Select(c =>
        {
            int ch = c.h * c.d;
            LayerNormWeights Norm() => new(ch, rng.Uniform(ch, 0.5f, 1.5f), rng.Uniform(ch, -0.5f, 0.5f), 1e-5);
            LinearWeights Lin(int o) => new(ch, o, Weights(rng, o * ch, ch), rng.Uniform(o, -0.5f, 0.5f));
            var op = new LiftingOp(c.h, c.d, c.div, Norm(), Norm(), Lin(ch), Lin(2 * ch), Lin(ch), Lin(ch), Lin(2 * ch),
                Lin(ch));
            var idx = new[] { c.b, c.k };
            return new OpCase($"lifting(b={c.b},t={c.t},s={c.s},heads={c.h},d={c.d},k={c.k},divisor={c.div})", op,
                new[] { new[] { c.b, c.t, c.s, ch }, idx, (int[])idx.Clone() },
                new[] { (-1f, 1f), (-2.5f, c.t + 1.5f), (-2.5f, c.t + 1.5f) });
        }).ToArray();
    }
}
