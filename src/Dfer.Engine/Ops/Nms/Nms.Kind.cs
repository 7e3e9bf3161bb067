using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Tensors;

namespace Dfer.Ops.Nms;

/// <summary>The nms op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class NmsKind : OpKind<NmsOp>
{
    public static NmsKind Instance { get; } = new();

    private NmsKind() { }

    public override string Name => "nms";

    protected override double[] RunReference(NmsOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes) =>
        NmsReference.Run(op, x[0], shapes[0]);

    protected override ICpuKernel CpuKernel(NmsOp op) => new NmsCpu(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, NmsOp op) => new NmsIlgpu(op);

    // Random boxes in [0, 1)^4: a quarter are proper (x0 < x1, y0 < y1) and overlap a lot, the rest
    // have zero intersection with everything; scores in [0, 1).
    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng)
        => new (int n, int k, double score, double iou)[] { (1, 1, 0.5, 0.4), (2, 7, 0.5, 0.4), (3, 61, 0.3, 0.2),
        (2, 845, 0.5, 0.4), (1, 200, 0.1, 0.05) }
        .Select(c => new OpCase($"nms(n={c.n},k={c.k},score>{c.score},iou>{c.iou})", new NmsOp(c.score, c.iou),
            new[] { new[] { c.n, c.k, 5 } }, new[] { (0f, 1f) })).ToArray();
}
