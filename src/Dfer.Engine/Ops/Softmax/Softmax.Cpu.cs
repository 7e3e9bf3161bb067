using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.Softmax;

/// <summary>Softmax over the last axis, max-subtracted.</summary>
public sealed unsafe class SoftmaxCpu : ICpuKernel
{
    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = CpuChecks.Dense(inputs[0]);
        CpuChecks.ExpectDense(output, "softmax");
        int n = x.Shape[^1];
        long rows = x.ElementCount / n;
        for (long r = 0; r < rows; r++)
        {
            float* xr = x.Data + r * n, yr = output.Data + r * n;
            float max = float.NegativeInfinity, sum = 0;
            for (int i = 0; i < n; i++) max = MathF.Max(max, xr[i]);
            for (int i = 0; i < n; i++) sum += yr[i] = MathF.Exp(xr[i] - max);
            for (int i = 0; i < n; i++) yr[i] /= sum;
        }
    }
}
