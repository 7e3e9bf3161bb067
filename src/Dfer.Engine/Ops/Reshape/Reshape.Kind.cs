using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Onnx;
using Dfer.Tensors;

namespace Dfer.Ops.Reshape;

/// <summary>The reshape op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class ReshapeKind : OpKind<ReshapeOp>
{
    public static ReshapeKind Instance { get; } = new();

    private ReshapeKind() { }

    public override string Name => "reshape";

    public override bool IsAlias => true;

    protected override double[] RunReference(ReshapeOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes) =>
        (double[])x[0].Clone();

    protected override ICpuKernel CpuKernel(ReshapeOp op) => new ReshapeCpu();

    protected override IOnnxForm? OnnxForm(ReshapeOp op) => new ReshapeOnnx(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, ReshapeOp op) => new ReshapeIlgpu();

    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng) => new[]
    {
        new OpCase("reshape(3x5x7->15x7)", new ReshapeOp(-1, 7), new[] { new[] { 3, 5, 7 } }),
        new OpCase("reshape(8x1x1x1x512->2x4x512)", new ReshapeOp(2, 4, 512), new[] { new[] { 8, 1, 1, 1, 512 } }),
    };
}
