using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.Conv1d;

/// <summary>Direct 1D convolution; the inner loop runs along the output length so it vectorises.</summary>
public sealed unsafe class Conv1dCpu : ICpuKernel
{
    private readonly Conv1dOp _op;

    public Conv1dCpu(Conv1dOp op) { _op = op; }

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = CpuChecks.Dense(inputs[0]);
        CpuChecks.ExpectDense(output, "conv1d");
        int batch = x.Shape[0], len = x.Shape[2], lo = output.Shape[2], k = _op.KernelSize, p = _op.Pad;
        for (int b = 0; b < batch; b++)
        for (int o = 0; o < _op.Cout; o++)
        {
            var y = new Span<float>(output.Data + ((long)b * _op.Cout + o) * lo, lo);
            y.Fill(_op.Bias[o]);
            for (int i = 0; i < _op.Cin; i++)
            {
                float* xr = x.Data + ((long)b * _op.Cin + i) * len;
                for (int kk = 0; kk < k; kk++)
                {
                    float wgt = _op.Weight[((long)o * _op.Cin + i) * k + kk];
                    int from = Math.Max(0, p - kk), to = Math.Min(lo, len + p - kk);
                    for (int l = from; l < to; l++) y[l] += wgt * xr[l - p + kk];
                }
            }
        }
    }
}
