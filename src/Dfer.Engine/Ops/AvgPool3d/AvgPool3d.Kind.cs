using Dfer.Devices.Cpu;
using Dfer.Devices.Cuda;
using Dfer.Devices.Ilgpu;
using Dfer.Onnx;
using Dfer.Tensors;

namespace Dfer.Ops.AvgPool3d;

/// <summary>The avgpool3d op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class AvgPool3dKind : OpKind<AvgPool3dOp>
{
    public static AvgPool3dKind Instance { get; } = new();

    private AvgPool3dKind() { }

    public override string Name => "avgpool3d";

    protected override double[] RunReference(AvgPool3dOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes) =>
        AvgPool3dReference.Run(x[0], shapes[0]);

    protected override ICpuKernel CpuKernel(AvgPool3dOp op) => new AvgPool3dCpu();

    protected override IOnnxForm? OnnxForm(AvgPool3dOp op) => new AvgPool3dOnnx();

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, AvgPool3dOp op) => new AvgPool3dIlgpu();

    /// <summary>small_ops.cu's global average pool.</summary>
    public override bool HasNativeCuda => true;

    protected override IIlgpuKernel? CudaKernel(CudaDevice cuda, AvgPool3dOp op, Precision precision) =>
        new AvgPool3dCuda(cuda, op);

    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng)
        => new[] { new[] { 2, 3, 5, 7, 11 }, new[] { 3, 1, 7, 7, 512 }, new[] { 1, 4, 56, 56, 64 } }
        .Select(s => new OpCase($"avgpool3d(n={s[0]},t={s[1]},h={s[2]},w={s[3]},c={s[4]})", new AvgPool3dOp(),
        new[] { s })).ToArray();
}
