using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Onnx;
using Dfer.Tensors;

namespace Dfer.Ops.Gelu;

/// <summary>The gelu op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class GeluKind : OpKind<GeluOp>
{
    public static GeluKind Instance { get; } = new();

    private GeluKind() { }

    public override string Name => "gelu";

    protected override double[] RunReference(GeluOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes) =>
        GeluReference.Run(x[0]);

    protected override ICpuKernel CpuKernel(GeluOp op) => new GeluCpu();

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, GeluOp op) => new GeluIlgpu();

    protected override IOnnxForm? OnnxForm(GeluOp op) => new GeluOnnx();

    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng)
        => new[] { new[] { 1 }, new[] { 3, 5, 7 }, new[] { 13, 131 }, new[] { 393, 3072 }, new[] { 392, 7 } }
        .Select(s => new OpCase($"gelu({string.Join("x", s)})", new GeluOp(), new[] { s })).ToArray();
}
