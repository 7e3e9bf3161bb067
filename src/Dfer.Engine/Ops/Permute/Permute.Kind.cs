using Dfer.Devices.Cpu;
using Dfer.Devices.Cuda;
using Dfer.Devices.Ilgpu;
using Dfer.Onnx;
using Dfer.Tensors;

namespace Dfer.Ops.Permute;

/// <summary>The permute op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class PermuteKind : OpKind<PermuteOp>
{
    public static PermuteKind Instance { get; } = new();

    private PermuteKind() { }

    public override string Name => "permute";

    protected override double[] RunReference(PermuteOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes) =>
        PermuteReference.Run(op, x[0], shapes[0]);

    protected override ICpuKernel CpuKernel(PermuteOp op) => new PermuteCpu(op);

    protected override IOnnxForm? OnnxForm(PermuteOp op) => new PermuteOnnx(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, PermuteOp op) => new PermuteIlgpu(op);

    /// <summary>small_ops.cu's permute for views up to its rank; ILGPU's past it.</summary>
    public override bool HasNativeCuda => true;

    protected override IIlgpuKernel? CudaKernel(CudaDevice cuda, PermuteOp op, Precision precision) =>
        op.ViewShape.Length <= PermuteCuda.MaxRank ? new PermuteCuda(cuda, op) : null;

    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng) => new[]
    {
        new OpCase("permute(clip b=1,f=4,c=3,h=5,w=7 -> instances)",
            new PermuteOp(new[] { -1, 2, 2, 3, 5, 7 }, new[] { 0, 1, 2, 4, 5, 3 }, new[] { -1, 2, 5, 7, 3 }),
            new[] { new[] { 1, 4, 3, 5, 7 } }),
        new OpCase("permute(clip b=2,f=16,c=3,h=112,w=112 -> instances)",
            new PermuteOp(new[] { -1, 4, 4, 3, 112, 112 }, new[] { 0, 1, 2, 4, 5, 3 }, new[] { -1, 4, 112, 112, 3 }),
            new[] { new[] { 2, 16, 3, 112, 112 } }),
        new OpCase("permute(3x5x7, axes 2,0,1)", new PermuteOp(new[] { 3, 5, 7 }, new[] { 2, 0, 1 }, new[] { 7, 3, 5 }),
            new[] { new[] { 3, 5, 7 } }),
    };
}
