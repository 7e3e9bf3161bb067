using Dfer.Devices.Cpu;
using Dfer.Primitives.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.Linear;

/// <summary>
/// nn.Linear on the CPU: <see cref="DenseRows"/>, which runs <see cref="RowGemm"/>'s register tiles on the SIMD
/// paths and <see cref="GemmNt"/>'s dot products on the portable one (the same path for any row count).
/// </summary>
public sealed class LinearCpu : ICpuKernel, IExecutedFlops, IDisposable
{
    private readonly LinearOp _op;
    private readonly DenseRows _rows;

    public LinearCpu(LinearOp op)
    {
        _op = op;
        _rows = new DenseRows(op.In, op.Out, op.Weight, op.Bias);
    }

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = CpuChecks.Dense(inputs[0]);
        CpuChecks.ExpectDense(output, "linear");
        _rows.Run(ctx, x, output, (int)(x.ElementCount / _op.In));
    }

    /// <summary>By the path <see cref="DenseRows"/> takes for these rows
    /// (<see cref="DenseRows.ExecutedFlops"/>).</summary>
    public long ExecutedFlops(CpuContext ctx, IReadOnlyList<int[]> inputShapes) =>
        _rows.ExecutedFlops(ctx, (int)(Tensor.ElementCountOf(inputShapes[0]) / _op.In));

    public void Dispose() => _rows.Dispose();
}
