using Dfer.Devices.Cpu;
using Dfer.Primitives.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.Conv3d;

/// <summary>
/// conv3d on the CPU, direct: the packed implicit GEMM of <see cref="ImplicitGemm"/> (6×16 AVX2
/// register tiles over packed weight panels, reading the channels-last input in place through its
/// zero halo), with the op's bias, residual and ReLU applied in its epilogue.
/// </summary>
public sealed class Conv3dCpu : ICpuKernel, IExecutedFlops, IDisposable
{
    private readonly Conv3dOp _op;
    private readonly ImplicitGemm _gemm;

    public Conv3dCpu(Conv3dOp op)
    {
        _op = op;
        _gemm = new ImplicitGemm(Geometry(op), op.Weight, op.Bias);
    }

    internal static ConvGeometry Geometry(Conv3dOp op) => new(op.Cin, op.Cout, op.Kernel, op.Stride, op.Pad, op.Relu);

    public int[]? InputHalo(int input) => input == 0 ? _op.InputHalo : null;

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output) =>
        _gemm.Run(ctx, inputs[0], output, _op.Residual ? inputs[1] : null);

    /// <summary>The implicit GEMM's tiles: temporal taps that meet only padding skipped, rows and channels padded to
    /// whole tiles (<see cref="ImplicitGemm.ExecutedFlops"/>).</summary>
    public long ExecutedFlops(CpuContext ctx, IReadOnlyList<int[]> inputShapes) => Executed(_op, inputShapes[0]);

    internal static long Executed(Conv3dOp op, int[] inputShape) =>
        ImplicitGemm.ExecutedFlops(Geometry(op), inputShape);

    public void Dispose() => _gemm.Dispose();
}
