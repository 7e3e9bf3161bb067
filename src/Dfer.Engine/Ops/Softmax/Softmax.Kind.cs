using Dfer.Devices.Cpu;
using Dfer.Devices.Cuda;
using Dfer.Devices.Ilgpu;
using Dfer.Onnx;
using Dfer.Tensors;

namespace Dfer.Ops.Softmax;

/// <summary>The softmax op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class SoftmaxKind : OpKind<SoftmaxOp>
{
    public static SoftmaxKind Instance { get; } = new();

    private SoftmaxKind() { }

    public override string Name => "softmax";

    protected override double[] RunReference(SoftmaxOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes) =>
        SoftmaxReference.Run(x[0], shapes[0]);

    protected override ICpuKernel CpuKernel(SoftmaxOp op) => new SoftmaxCpu();

    protected override IOnnxForm? OnnxForm(SoftmaxOp op) => new SoftmaxOnnx();

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, SoftmaxOp op) => new SoftmaxIlgpu();

    /// <summary>small_ops.cu's row softmax.</summary>
    public override bool HasNativeCuda => true;

    protected override IIlgpuKernel? CudaKernel(CudaDevice cuda, SoftmaxOp op, Precision precision) =>
        new SoftmaxCuda(cuda, op);

    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng)
        => new[] { new[] { 1, 1 }, new[] { 3, 7 }, new[] { 5, 13, 129 } }
        .Select(s => new OpCase($"softmax({string.Join("x", s)})", new SoftmaxOp(), new[] { s })).ToArray();
}
