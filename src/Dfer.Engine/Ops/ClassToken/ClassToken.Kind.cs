using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Onnx;
using Dfer.Tensors;

namespace Dfer.Ops.ClassToken;

/// <summary>The classtoken op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class ClassTokenKind : OpKind<ClassTokenOp>
{
    public static ClassTokenKind Instance { get; } = new();

    private ClassTokenKind() { }

    public override string Name => "classtoken";

    protected override double[] RunReference(ClassTokenOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes) =>
        ClassTokenReference.Run(op, x[0], shapes[0]);

    protected override ICpuKernel CpuKernel(ClassTokenOp op) => new ClassTokenCpu(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, ClassTokenOp op) => new ClassTokenIlgpu(device, op);

    protected override IOnnxForm? OnnxForm(ClassTokenOp op) => new ClassTokenOnnx(op);

    // IFDD: the 96-wide class token before block 0 (25088 tokens).
    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng)
        => new[] { new[] { 1, 1, 1 }, new[] { 3, 5, 7 }, new[] { 2, 13, 97 }, new[] { 2, 25088, 96 } }
        .Select(s => new OpCase($"classtoken({string.Join("x", s)})", new ClassTokenOp(rng.Uniform(s[2], -1f, 1f)),
        new[] { s })).ToArray();
}
