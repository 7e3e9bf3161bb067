using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.Conv1d;

/// <summary>
/// conv1d on the CPU, one (sample, output channel) row per work item: the row starts at the bias, then each
/// (input channel, tap) adds its weight times a shifted input row over the range of outputs where the tap lands inside
/// the input, so the inner loop is a branch-free axpy along the length that the JIT vectorises.
/// </summary>
public sealed unsafe class Conv1dCpu(Conv1dOp op) : ICpuKernel
{
    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = CpuChecks.Dense(inputs[0]);
        CpuChecks.ExpectDense(output, "conv1d");
        var work = new Work(op, x.Data, output.Data, x.Shape[2], output.Shape[2]);
        int rows = x.Shape[0] * op.Cout;
        if ((long)rows * output.Shape[2] * op.Cin * op.KernelSize < (1 << 16))
            for (int r = 0; r < rows; r++) work.Execute(r, 0);
        else ctx.Pool.Run(work, rows);
    }

    private sealed class Work(Conv1dOp op, float* x, float* y, int len, int lo) : IParallelWork
    {
        public void Execute(int row, int thread)
        {
            int b = row / op.Cout, o = row % op.Cout, k = op.KernelSize, p = op.Pad;
            var yr = new Span<float>(y + (long)row * lo, lo);
            yr.Fill(op.Bias[o]);
            for (int i = 0; i < op.Cin; i++)
            {
                float* xr = x + ((long)b * op.Cin + i) * len;
                for (int kk = 0; kk < k; kk++)
                {
                    float w = op.Weight[((long)o * op.Cin + i) * k + kk];
                    int from = Math.Max(0, p - kk), to = Math.Min(lo, len + p - kk);
                    float* src = xr - p + kk;
                    for (int l = from; l < to; l++) yr[l] += w * src[l];
                }
            }
        }
    }
}
