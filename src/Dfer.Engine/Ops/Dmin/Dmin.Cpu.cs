using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.Dmin;

/// <summary>DMIN on the CPU; statistics in double (var_ln subtracts two close numbers), the rest in float.</summary>
public sealed unsafe class DminCpu : ICpuKernel
{
    private readonly DminOp _op;
    private readonly float _wm0, _wm1, _wv0, _wv1;

    public DminCpu(DminOp op)
    {
        _op = op;
        var (a, b) = DminReference.Softmax2(op.MeanWeight);
        var (c, d) = DminReference.Softmax2(op.VarWeight);
        (_wm0, _wm1, _wv0, _wv1) = ((float)a, (float)b, (float)c, (float)d);
    }

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = CpuChecks.Dense(inputs[0]);
        CpuChecks.ExpectDense(output, "dmin");
        int batch = x.Shape[0], n = x.Shape[1], c = x.Shape[2];
        Span<double> meanIn = c <= 4096 ? stackalloc double[c] : new double[c];
        Span<double> varIn = c <= 4096 ? stackalloc double[c] : new double[c];
        for (int b = 0; b < batch; b++)
        {
            float* xb = x.Data + (long)b * n * c, yb = output.Data + (long)b * n * c;
            double meanLn = 0, sqLn = 0;
            for (int ch = 0; ch < c; ch++)
            {
                double s = 0;
                for (int i = 0; i < n; i++) s += xb[(long)i * c + ch];
                double m = s / n, v = 0;
                for (int i = 0; i < n; i++) { double dl = xb[(long)i * c + ch] - m; v += dl * dl; }
                meanIn[ch] = m;
                varIn[ch] = v / (n - 1);
                meanLn += m;
                sqLn += varIn[ch] + m * m;
            }
            meanLn /= c;
            double varLn = sqLn / c - meanLn * meanLn;
            for (int ch = 0; ch < c; ch++)
            {
                float mean = (float)(_wm0 * meanIn[ch] + _wm1 * meanLn);
                float scale = (float)(1.0 / Math.Sqrt(_wv0 * varIn[ch] + _wv1 * varLn + _op.Eps)) * _op.Weight[ch];
                float shift = _op.Bias[ch];
                for (int i = 0; i < n; i++) yb[(long)i * c + ch] = (xb[(long)i * c + ch] - mean) * scale + shift;
            }
        }
    }
}
