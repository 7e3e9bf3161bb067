using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Onnx;
using Dfer.Tensors;

namespace Dfer.Ops.Add;

/// <summary>The add op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class AddKind : OpKind<AddOp>
{
    public static AddKind Instance { get; } = new();

    private AddKind() { }

    public override string Name => "add";

    protected override double[] RunReference(AddOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes) =>
        AddReference.Run(x[0], x[1]);

    protected override ICpuKernel CpuKernel(AddOp op) => new AddCpu();

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, AddOp op) => new AddIlgpu();

    protected override IOnnxForm? OnnxForm(AddOp op) => new AddOnnx();

    // IFDD's residuals: block 0 (25089 tokens × 96), block 9 (393 × 768, batch 2); odd lengths around the vector
    // width.
    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng)
        => new[] { new[] { 1 }, new[] { 7 }, new[] { 1001 }, new[] { 3, 5, 7 }, new[] { 2, 393, 768 },
        new[] { 1, 25089, 96 } }
        .Select(s => new OpCase($"add({string.Join("x", s)})", new AddOp(), new[] { s, s })).ToArray();
}
