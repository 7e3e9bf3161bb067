using Dfer.Devices.Cpu;
using Dfer.Primitives.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.Dmin;

/// <summary>
/// DMIN on the CPU in fp32: <see cref="ColumnStatistics"/> for the instance statistics (two passes,
/// eight channels at a time) and the layer variance as within- plus between-channel terms, unlike
/// the float64 one-pass sums of <see cref="DminReference"/>, so the op matrix checks two
/// independent computations.
/// </summary>
public sealed unsafe class DminCpu : ICpuKernel
{
    private readonly DminOp _op;
    private readonly float _wm0, _wm1, _wv0, _wv1;

    public DminCpu(DminOp op)
    {
        _op = op;
        (_wm0, _wm1) = Softmax2(op.MeanWeight);
        (_wv0, _wv1) = Softmax2(op.VarWeight);
    }

    private static (float, float) Softmax2(float[] w)
    {
        float m = MathF.Max(w[0], w[1]);
        float a = MathF.Exp(w[0] - m), b = MathF.Exp(w[1] - m);
        return (a / (a + b), b / (a + b));
    }

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = CpuChecks.Dense(inputs[0]);
        CpuChecks.ExpectDense(output, "dmin");
        int batch = x.Shape[0], n = x.Shape[1], c = x.Shape[2];
        float eps = (float)_op.Eps;
        float[] weight = _op.Weight, bias = _op.Bias;
        Span<float> meanSpan = c <= 4096 ? stackalloc float[c] : new float[c];
        Span<float> scaleSpan = c <= 4096 ? stackalloc float[c] : new float[c];
        fixed (float* mean = meanSpan, scale = scaleSpan)
        {
            for (int b = 0; b < batch; b++)
            {
                float* xb = x.Data + (long)b * n * c, yb = output.Data + (long)b * n * c;
                ColumnStatistics.MeanAndUnbiasedVariance(xb, n, c, mean, scale);
                var (meanLn, varLn) = ColumnStatistics.Pooled(mean, scale, c);
                for (int ch = 0; ch < c; ch++)
                {
                    mean[ch] = _wm0 * mean[ch] + _wm1 * meanLn;
                    scale[ch] = weight[ch] / MathF.Sqrt(_wv0 * scale[ch] + _wv1 * varLn + eps);
                }
                for (int i = 0; i < n; i++)
                {
                    float* xr = xb + (long)i * c, yr = yb + (long)i * c;
                    for (int ch = 0; ch < c; ch++) yr[ch] = (xr[ch] - mean[ch]) * scale[ch] + bias[ch];
                }
            }
        }
    }
}
