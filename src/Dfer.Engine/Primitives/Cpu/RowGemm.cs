using System.Runtime.Intrinsics;
using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Primitives.Cpu;

/// <summary>
/// <c>y[m,n] = bias[n] + Σ_k x[m,k]·W[n,k]</c> (+ y[m,n] when accumulating), W row-major [N, K] as
/// PyTorch stores it. Threads split the N columns; each column's weight row is read once per block
/// of 4 input rows, which is what matters for the small-M products of a model head.
/// </summary>
public sealed unsafe class GemmNt : IParallelWork
{
    private const int ColumnsPerItem = 32;
    private float* _x, _w, _bias, _y;
    private int _m, _k, _n;
    private bool _accumulate;

    public void Run(CpuContext ctx, float* x, int m, int k, float* w, int n, float* bias, float* y, bool accumulate)
    {
        _x = x; _m = m; _k = k; _w = w; _n = n; _bias = bias; _y = y; _accumulate = accumulate;
        ctx.Pool.Run(this, (n + ColumnsPerItem - 1) / ColumnsPerItem);
    }

    public void Execute(int index, int thread)
    {
        int n0 = index * ColumnsPerItem, n1 = Math.Min(_n, n0 + ColumnsPerItem);
        for (int m0 = 0; m0 < _m; m0 += 4)
        {
            int rows = Math.Min(4, _m - m0);
            for (int j = n0; j < n1; j++)
            {
                float* wr = _w + (long)j * _k;
                for (int r = 0; r < rows; r++)
                {
                    float v = Dot(_x + (long)(m0 + r) * _k, wr, _k) + (_bias != null ? _bias[j] : 0f);
                    float* dst = _y + (long)(m0 + r) * _n + j;
                    *dst = _accumulate ? *dst + v : v;
                }
            }
        }
    }

    public static float Dot(float* a, float* b, int n)
    {
        int i = 0;
        float s = 0;
        if (Vector256.IsHardwareAccelerated && n >= 32)
        {
            var s0 = Vector256<float>.Zero; var s1 = s0; var s2 = s0; var s3 = s0;
            for (; i <= n - 32; i += 32)
            {
                s0 += Vector256.Load(a + i) * Vector256.Load(b + i);
                s1 += Vector256.Load(a + i + 8) * Vector256.Load(b + i + 8);
                s2 += Vector256.Load(a + i + 16) * Vector256.Load(b + i + 16);
                s3 += Vector256.Load(a + i + 24) * Vector256.Load(b + i + 24);
            }
            s = Vector256.Sum((s0 + s1) + (s2 + s3));
        }
        for (; i < n; i++) s += a[i] * b[i];
        return s;
    }
}

/// <summary>
/// <c>y[m,n] = bias[n] + Σ_k x[m,k]·W[n,k]</c> (+ y[m,n] when accumulating) for many rows: the
/// <see cref="ImplicitGemm"/> run as a 1×1×1 convolution over [M, 1, 1, 1, K] views, so the rows go through
/// its packed weight panels and 6×16 register tiles (an order of magnitude faster than dot
/// products once M reaches a few dozen).
/// </summary>
public sealed unsafe class RowGemm : IDisposable
{
    private readonly ImplicitGemm _conv;

    public RowGemm(int inFeatures, int outFeatures, float[] weight, float[]? bias)
    {
        In = inFeatures; Out = outFeatures;
        _conv = new ImplicitGemm(new ConvGeometry(inFeatures, outFeatures, (1, 1, 1), (1, 1, 1), (0, 0, 0), false),
            weight, bias);
    }

    public int In { get; }
    public int Out { get; }

    /// <summary>Rows of x start at element <paramref name="xOffset"/> of <paramref name="x"/>, rows of y likewise; both
    /// dense.</summary>
    public void Run(CpuContext ctx, NativeBuffer x, long xOffset, NativeBuffer y, long yOffset, int rows,
        bool accumulate)
    {
        var xv = new Tensor(x, xOffset, [rows, 1, 1, 1, In], [In, In, In, In, 1]);
        var yv = new Tensor(y, yOffset, [rows, 1, 1, 1, Out], [Out, Out, Out, Out, 1]);
        _conv.Run(ctx, xv, yv, accumulate ? yv : null);
    }

    public void Dispose() => _conv.Dispose();
}
