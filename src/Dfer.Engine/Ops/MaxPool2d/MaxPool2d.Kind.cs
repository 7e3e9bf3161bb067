using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Onnx;
using Dfer.Tensors;

namespace Dfer.Ops.MaxPool2d;

/// <summary>The maxpool2d op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class MaxPool2dKind : OpKind<MaxPool2dOp>
{
    public static MaxPool2dKind Instance { get; } = new();

    private MaxPool2dKind() { }

    public override string Name => "maxpool2d";

    protected override double[] RunReference(MaxPool2dOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes) =>
        MaxPool2dReference.Run(op, x[0], shapes[0]);

    protected override ICpuKernel CpuKernel(MaxPool2dOp op) => new MaxPool2dCpu(op);

    protected override IOnnxForm? OnnxForm(MaxPool2dOp op) => new MaxPool2dOnnx(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, MaxPool2dOp op) => new MaxPool2dIlgpu(op);

    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng)
    {
        var cases = new (int[] x, (int H, int W) k, (int H, int W) s, Pad2d p)[]
        {
            (new[] { 1, 1, 1, 1 }, (1, 1), (1, 1), Pad2d.Uniform(0)),
            (new[] { 2, 5, 7, 11 }, (2, 2), (2, 2), Pad2d.Same(5, 7, 2, 2, 2, 2)),
            (new[] { 1, 13, 13, 3 }, (2, 2), (1, 1), Pad2d.Same(13, 13, 2, 2, 1, 1)),
            (new[] { 2, 7, 9, 13 }, (3, 3), (2, 2), Pad2d.Uniform(1)),
            (new[] { 2, 6, 7, 3 }, (3, 2), (1, 2), new Pad2d(2, 0, 1, 1)), // non-square, asymmetric
            (new[] { 1, 207, 207, 16 }, (2, 2), (2, 2), Pad2d.Same(207, 207, 2, 2, 2, 2)), // detector after conv0
            (new[] { 1, 13, 13, 512 }, (2, 2), (1, 1), Pad2d.Same(13, 13, 2, 2, 1, 1)),     // detector before conv8
        };
        return cases.Select(c => new OpCase(
            $"maxpool2d(n={c.x[0]},h={c.x[1]},w={c.x[2]},c={c.x[3]},k={c.k.H}x{c.k.W},s={c.s.H}x{c.s.W},p={c.p})",
            new MaxPool2dOp(c.k, c.s, c.p), new[] { c.x })).ToArray();
    }
}
