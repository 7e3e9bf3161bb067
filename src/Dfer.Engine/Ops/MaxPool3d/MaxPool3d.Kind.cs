using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Tensors;

namespace Dfer.Ops.MaxPool3d;

/// <summary>The maxpool3d op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class MaxPool3dKind : OpKind<MaxPool3dOp>
{
    public static MaxPool3dKind Instance { get; } = new();

    private MaxPool3dKind() { }

    public override string Name => "maxpool3d";

    protected override double[] RunReference(MaxPool3dOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes) =>
        MaxPool3dReference.Run(op, x[0], shapes[0]);

    protected override ICpuKernel CpuKernel(MaxPool3dOp op) => new MaxPool3dCpu(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, MaxPool3dOp op) => new MaxPool3dIlgpu(op);

    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng)
    {
        // (input [n, t, h, w, c], k, s, p)
        var cases = new (int[] x, (int T, int H, int W) k, (int T, int H, int W) s, (int T, int H, int W) p)[]
        {
            (new[] { 1, 1, 1, 1, 1 }, (1, 1, 1), (1, 1, 1), (0, 0, 0)),
            (new[] { 2, 3, 5, 7, 11 }, (3, 3, 3), (2, 2, 2), (1, 1, 1)),
            (new[] { 1, 5, 13, 11, 3 }, (2, 3, 5), (1, 2, 3), (1, 1, 2)),
            (new[] { 2, 8, 56, 56, 96 }, (1, 3, 3), (1, 2, 2), (0, 1, 1)),
            (new[] { 1, 8, 14, 14, 768 }, (1, 3, 3), (1, 2, 2), (0, 1, 1)),
        };
        return cases.Select(c => new OpCase(
            $"maxpool3d(n={c.x[0]},t={c.x[1]},h={c.x[2]},w={c.x[3]},c={c.x[4]},k={c.k.T}x{c.k.H}x{c.k.W},"
            + $"s={c.s.T}x{c.s.H}x{c.s.W},p={c.p.T}x{c.p.H}x{c.p.W})",
            new MaxPool3dOp(c.k, c.s, c.p), new[] { c.x })).ToArray();
    }
}
