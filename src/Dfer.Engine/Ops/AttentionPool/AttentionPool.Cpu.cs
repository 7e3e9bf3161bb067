using Dfer.Devices.Cpu;
using Dfer.Primitives.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.AttentionPool;

/// <summary>
/// The fused head on the CPU over one scratch buffer, composed of primitives: <see cref="DenseRows"/>
/// for the qkv projection and fc, <see cref="SelfAttention"/> over the instances, then DMIN, the
/// gate and pwconv in one pass per sample. DMIN's statistics are fp32 (<see cref="ColumnStatistics"/>:
/// two-pass instance statistics, the layer variance as within- plus between-channel terms), unlike
/// the float64 one-pass sums of <see cref="AttentionPoolReference"/>, so the op matrix compares two
/// independent computations. The head is a few microseconds of the clip's time, almost all in the
/// 3072×1024 projection, which <see cref="DenseRows"/> runs at memory speed.
/// </summary>
public sealed unsafe class AttentionPoolCpu : ICpuKernel, IDisposable
{
    private readonly AttentionPoolOp _op;
    private readonly DenseRows _qkv, _fc;
    private readonly SelfAttention _attention;
    private readonly float _wm0, _wm1, _wv0, _wv1;
    private NativeBuffer? _scratch;

    public AttentionPoolCpu(AttentionPoolOp op)
    {
        _op = op;
        _qkv = new DenseRows(op.Dim, 3 * op.Dim, op.QkvWeight, null);
        _attention = new SelfAttention(op.Heads, op.HeadDim, (float)op.Scale);
        _fc = new DenseRows(op.PooledLength, op.Classes, op.FcWeight, op.FcBias);
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
        CpuChecks.ExpectDense(output, "attentionpool");
        int b = x.Shape[0], n = _op.Instances, d = _op.Dim, lout = _op.PooledLength;
        long rowsElems = (long)b * n * d;
        // qkv [B,N,3D] | y [B,N,D] | g [B,N,D] | pooled [B,Lout] | mean, scale [D]
        long need = 5 * rowsElems + (long)b * lout + 2L * d;
        if (_scratch is null || _scratch.Bytes < need * sizeof(float))
        {
            _scratch?.Dispose();
            _scratch = new NativeBuffer(need * sizeof(float));
        }
        long at = 0;
        Tensor View(params int[] shape)
        {
            var t = new Tensor(_scratch, at, shape, Tensor.ContiguousStrides(shape));
            at += Tensor.ElementCountOf(shape);
            return t;
        }
        var qkv = View(b, n, 3 * d);
        var y = View(b, n, d);
        var g = View(b, n, d);
        var pooled = View(b, lout);
        float* mean = View(d).Data, scale = View(d).Data;
        _qkv.Run(ctx, x, qkv, b * n);
        _attention.Run(ctx, qkv.Data, y.Data, b, n);
        for (int s = 0; s < b; s++)
        {
            long o = (long)s * n * d;
            NormaliseAndGate(x.Data + o, y.Data + o, g.Data + o, mean, scale);
            Pwconv(g.Data + o, pooled.Data + (long)s * lout);
        }
        _fc.Run(ctx, pooled, output, b);
    }

    /// <summary>One sample: g = x·σ(DMIN(y)) over its [N, D] instances.</summary>
    private void NormaliseAndGate(float* x, float* y, float* g, float* mean, float* scale)
    {
        int n = _op.Instances, d = _op.Dim;
        ColumnStatistics.MeanAndUnbiasedVariance(y, n, d, mean, scale);
        var (meanLn, varLn) = ColumnStatistics.Pooled(mean, scale, d);
        float eps = (float)_op.Eps;
        float[] weight = _op.NormWeight, bias = _op.NormBias;
        for (int c = 0; c < d; c++)
        {
            mean[c] = _wm0 * mean[c] + _wm1 * meanLn;
            scale[c] = weight[c] / MathF.Sqrt(_wv0 * scale[c] + _wv1 * varLn + eps);
        }
        for (int i = 0; i < n; i++)
        {
            float* yr = y + (long)i * d, xr = x + (long)i * d, gr = g + (long)i * d;
            for (int c = 0; c < d; c++)
            {
                float z = (yr[c] - mean[c]) * scale[c] + bias[c];
                gr[c] = xr[c] / (1f + MathF.Exp(-z));
            }
        }
    }

    /// <summary>One sample: pwconv of its [N, D] gated instances (N channels → 1, along D) into
    /// <paramref name="pooled"/> [Lout].</summary>
    private void Pwconv(float* g, float* pooled)
    {
        int n = _op.Instances, d = _op.Dim, k = _op.ConvKernel, p = _op.ConvPad, lout = _op.PooledLength;
        float[] w = _op.ConvWeight;
        new Span<float>(pooled, lout).Fill(_op.ConvBias);
        for (int i = 0; i < n; i++)
        {
            float* gr = g + (long)i * d;
            for (int kk = 0; kk < k; kk++)
            {
                float wgt = w[i * k + kk];
                int from = Math.Max(0, p - kk), to = Math.Min(lout, d + p - kk);
                for (int t = from; t < to; t++) pooled[t] += wgt * gr[t - p + kk];
            }
        }
    }

    public void Dispose()
    {
        _qkv.Dispose();
        _fc.Dispose();
        _scratch?.Dispose();
    }
}
