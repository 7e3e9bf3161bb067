using System.Runtime.Intrinsics;
using Dfer.Devices.Cpu;
using Dfer.Ops.Conv3d;
using Dfer.Tensors;

namespace Dfer.Ops.Linear;

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

    internal static float Dot(float* a, float* b, int n)
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
/// conv3d CPU kernel run as a 1×1×1 convolution over [M, 1, 1, 1, K] views, so the rows go through
/// its packed weight panels and 6×16 register tiles (an order of magnitude faster than dot
/// products once M reaches a few dozen).
/// </summary>
public sealed unsafe class RowGemm : IDisposable
{
    private readonly Conv3dCpu _conv;

    public RowGemm(int inFeatures, int outFeatures, float[] weight, float[]? bias)
    {
        In = inFeatures; Out = outFeatures;
        _conv = new Conv3dCpu(new Conv3dOp(inFeatures, outFeatures, (1, 1, 1), (1, 1, 1), (0, 0, 0), weight, bias, false, false));
    }

    public int In { get; }
    public int Out { get; }

    /// <summary>Rows of x start at element <paramref name="xOffset"/> of <paramref name="x"/>, rows of y likewise; both dense.</summary>
    public void Run(CpuContext ctx, NativeBuffer x, long xOffset, NativeBuffer y, long yOffset, int rows, bool accumulate)
    {
        var xv = new Tensor(x, xOffset, [rows, 1, 1, 1, In], [In, In, In, In, 1]);
        var yv = new Tensor(y, yOffset, [rows, 1, 1, 1, Out], [Out, Out, Out, Out, 1]);
        _conv.Run(ctx, xv, yv, accumulate ? yv : null);
    }

    public void Dispose() => _conv.Dispose();
}

/// <summary>
/// nn.Linear on the CPU: <see cref="RowGemm"/>'s register tiles for more than a handful of rows,
/// <see cref="GemmNt"/>'s dot products for the few rows of a model head.
/// </summary>
public sealed unsafe class LinearCpu : ICpuKernel, IDisposable
{
    /// <summary>From this many rows on, the tiled GEMM wins.</summary>
    internal const int TiledRows = 24;
    private readonly LinearOp _op;
    private readonly NativeBuffer _w;
    private readonly NativeBuffer? _b;
    private readonly GemmNt _gemm = new();
    private RowGemm? _tiled;

    public LinearCpu(LinearOp op)
    {
        _op = op;
        _w = new NativeBuffer((long)op.Weight.Length * sizeof(float));
        op.Weight.CopyTo(new Span<float>(_w.Pointer, op.Weight.Length));
        if (op.Bias != null)
        {
            _b = new NativeBuffer(op.Bias.Length * sizeof(float));
            op.Bias.CopyTo(new Span<float>(_b.Pointer, op.Bias.Length));
        }
    }

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = CpuChecks.Dense(inputs[0]);
        CpuChecks.ExpectDense(output, "linear");
        int rows = (int)(x.ElementCount / _op.In);
        if (rows >= TiledRows && ctx.UseSimd)
        {
            _tiled ??= new RowGemm(_op.In, _op.Out, _op.Weight, _op.Bias);
            _tiled.Run(ctx, x.Storage, x.Offset, output.Storage, output.Offset, rows, false);
            return;
        }
        _gemm.Run(ctx, x.Data, rows, _op.In, (float*)_w.Pointer, _op.Out, _b == null ? null : (float*)_b.Pointer, output.Data, false);
    }

    public void Dispose() { _w.Dispose(); _b?.Dispose(); _tiled?.Dispose(); }
}
