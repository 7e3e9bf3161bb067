using System.Runtime.Intrinsics;
using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Primitives.Cpu;

/// <summary>
/// <c>y[m,n] = bias[n] + Σ_k x[m,k]·W[n,k]</c> (+ y[m,n] when accumulating), W row-major [N, K] as
/// PyTorch stores it, for the few rows of a model head or a recurrent step. Threads split the N columns; each weight
/// row is streamed once per block of 4 input rows and every vector of it loaded once for all 4 rows (the weights, not
/// the arithmetic, bound these products: an LSTM step reads 4 MB of W_hh for 2 rows).
/// </summary>
public sealed unsafe class GemmNt : IParallelWork
{
    /// <summary>Output columns per work item (the thread-scaling model reads it).</summary>
    public const int ColumnsPerItem = 32;
    private float* _x, _w, _bias, _y;
    private int _m, _k, _n;
    private bool _accumulate, _simd, _wide;

    public void Run(CpuContext ctx, float* x, int m, int k, float* w, int n, float* bias, float* y, bool accumulate)
    {
        _x = x; _m = m; _k = k; _w = w; _n = n; _bias = bias; _y = y; _accumulate = accumulate;
        (_simd, _wide) = (ctx.UseSimd && Vector256.IsHardwareAccelerated, ctx.UseAvx512);
        ctx.Pool.Run(this, (n + ColumnsPerItem - 1) / ColumnsPerItem);
    }

    public void Execute(int index, int thread)
    {
        int n0 = index * ColumnsPerItem, n1 = Math.Min(_n, n0 + ColumnsPerItem);
        float* sums = stackalloc float[4];
        for (int m0 = 0; m0 < _m; m0 += 4)
        {
            int rows = Math.Min(4, _m - m0);
            float* x0 = _x + (long)m0 * _k;
            // Missing rows of the last block repeat the first; their sums are not stored.
            float* x1 = rows > 1 ? x0 + _k : x0, x2 = rows > 2 ? x0 + 2L * _k : x0, x3 = rows > 3 ? x0 + 3L * _k : x0;
            for (int j = n0; j < n1; j++)
            {
                float* wr = _w + (long)j * _k;
                DotRows(x0, x1, x2, x3, wr, _k, sums, _simd, _wide);
                float b = _bias != null ? _bias[j] : 0f;
                for (int r = 0; r < rows; r++)
                {
                    float* dst = _y + (long)(m0 + r) * _n + j;
                    *dst = _accumulate ? *dst + (sums[r] + b) : sums[r] + b;
                }
            }
        }
    }

    /// <summary>The dot products of rows <paramref name="x0"/>..<paramref name="x3"/> (a caller with fewer rows
    /// repeats one) with one weight row of
    /// <paramref name="n"/> floats into <paramref name="sums"/>[0..4): 512-bit where <paramref name="wide"/>, 256-bit
    /// where <paramref name="simd"/>, scalar FMA otherwise.</summary>
    public static void DotRows(float* x0, float* x1, float* x2, float* x3, float* w, int n, float* sums, bool simd,
        bool wide)
    {
        if (wide) Dot4Wide(x0, x1, x2, x3, w, n, sums);
        else if (simd) Dot4(x0, x1, x2, x3, w, n, sums);
        else
            for (int r = 0; r < 4; r++)
                sums[r] = DotPortable(r == 0 ? x0 : r == 1 ? x1 : r == 2 ? x2 : x3, w, n);
    }

    /// <summary>Four dot products with one weight row, 256-bit.</summary>
    private static void Dot4(float* x0, float* x1, float* x2, float* x3, float* w, int n, float* sums)
    {
        var s0 = Vector256<float>.Zero; var s1 = s0; var s2 = s0; var s3 = s0;
        int i = 0;
        for (; i <= n - 8; i += 8)
        {
            var wv = Vector256.Load(w + i);
            s0 = Vector256.FusedMultiplyAdd(Vector256.Load(x0 + i), wv, s0);
            s1 = Vector256.FusedMultiplyAdd(Vector256.Load(x1 + i), wv, s1);
            s2 = Vector256.FusedMultiplyAdd(Vector256.Load(x2 + i), wv, s2);
            s3 = Vector256.FusedMultiplyAdd(Vector256.Load(x3 + i), wv, s3);
        }
        sums[0] = Vector256.Sum(s0); sums[1] = Vector256.Sum(s1);
        sums[2] = Vector256.Sum(s2); sums[3] = Vector256.Sum(s3);
        for (; i < n; i++)
        {
            sums[0] += x0[i] * w[i]; sums[1] += x1[i] * w[i]; sums[2] += x2[i] * w[i]; sums[3] += x3[i] * w[i];
        }
    }

    /// <summary>Four dot products with one weight row, 512-bit, the tail under a mask.</summary>
    private static void Dot4Wide(float* x0, float* x1, float* x2, float* x3, float* w, int n, float* sums)
    {
        var s0 = Vector512<float>.Zero; var s1 = s0; var s2 = s0; var s3 = s0;
        int i = 0;
        for (; i <= n - 16; i += 16)
        {
            var wv = Vector512.Load(w + i);
            s0 = Vector512.FusedMultiplyAdd(Vector512.Load(x0 + i), wv, s0);
            s1 = Vector512.FusedMultiplyAdd(Vector512.Load(x1 + i), wv, s1);
            s2 = Vector512.FusedMultiplyAdd(Vector512.Load(x2 + i), wv, s2);
            s3 = Vector512.FusedMultiplyAdd(Vector512.Load(x3 + i), wv, s3);
        }
        if (i < n)
        {
            var mask = Vector512.LessThan(Vector512<int>.Indices, Vector512.Create(n - i)).AsSingle();
            var wv = MaskedLoad(w + i, mask);
            s0 = Vector512.FusedMultiplyAdd(MaskedLoad(x0 + i, mask), wv, s0);
            s1 = Vector512.FusedMultiplyAdd(MaskedLoad(x1 + i, mask), wv, s1);
            s2 = Vector512.FusedMultiplyAdd(MaskedLoad(x2 + i, mask), wv, s2);
            s3 = Vector512.FusedMultiplyAdd(MaskedLoad(x3 + i, mask), wv, s3);
        }
        sums[0] = Vector512.Sum(s0); sums[1] = Vector512.Sum(s1);
        sums[2] = Vector512.Sum(s2); sums[3] = Vector512.Sum(s3);
    }

    /// <summary>The lanes of <paramref name="mask"/> from <paramref name="p"/>, zero elsewhere; masked lanes are never
    /// touched, so reading past the end of a row is safe.</summary>
    private static Vector512<float> MaskedLoad(float* p, Vector512<float> mask) =>
        System.Runtime.Intrinsics.X86.Avx512F.MaskLoad(p, mask, Vector512<float>.Zero);

    private static float DotPortable(float* a, float* b, int n)
    {
        float s = 0;
        for (int i = 0; i < n; i++) s = MathF.FusedMultiplyAdd(a[i], b[i], s);
        return s;
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

    /// <summary>The FLOPs <see cref="Run"/> executes for <paramref name="m"/> rows of <paramref name="k"/> against
    /// <paramref name="n"/> weight rows on <paramref name="ctx"/>: rows in blocks of 4 (a short last block repeats its
    /// first row, computed and not stored), each dot product over k, or over k rounded up to 16 lanes on the 512-bit
    /// path, whose tail runs masked. The bias (and accumulation) adds are not counted.</summary>
    public static long ExecutedFlops(CpuContext ctx, int m, int k, int n)
    {
        long rows = (m + 3L) / 4 * 4, lanes = ctx.UseAvx512 ? (k + 15L) / 16 * 16 : k;
        return 2 * rows * lanes * n;
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

    /// <summary>The FLOPs <see cref="Run"/> executes for <paramref name="rows"/> rows (without accumulating): the
    /// implicit GEMM's 1×1×1 count, rows padded to tiles of 6 and columns to panels of 16.</summary>
    public static long ExecutedFlops(int inFeatures, int outFeatures, int rows) => ImplicitGemm.ExecutedFlops(
        new ConvGeometry(inFeatures, outFeatures, (1, 1, 1), (1, 1, 1), (0, 0, 0), false), [rows, 1, 1, 1, inFeatures]);
}
