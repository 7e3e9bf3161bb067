using System.Numerics;
using Dfer.Devices.Cpu;
using Dfer.Primitives.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.Conv2d;

/// <summary>
/// conv2d on the CPU as an implicit GEMM: rows are output positions (n, h, w), columns output
/// channels, the reduction runs over (kh, kw, ci) and reads the channels-last input in place.
/// A tile is <see cref="MR"/> positions × 2 vectors of output channels held in registers; per
/// input channel it broadcasts one input value per position and loads two weight vectors.
/// Padding taps point at a row of zeros instead of branching. Weights are packed per panel of
/// 2 vectors as [panel][kh][kw][ci][2·V], zero beyond Cout. A residual row is added and the activation runs on the
/// registers before the store. Work items: (panel, chunk of tiles).
/// That direct kernel runs dilated convolutions and the portable path. With AVX2 a convolution without dilation runs
/// on <see cref="ImplicitGemm"/> instead, as a 3-D one with a single frame (its packed 6×16 tiles, 12×16 with
/// AVX-512, reduction blocking and the activation fused into its epilogue): a 1×1 conv is then a plain GEMM over
/// positions; a padded one reads a copy of the input with a zero border, kept between calls while the shape stays.
/// </summary>
public sealed unsafe class Conv2dCpu : ICpuKernel, IExecutedFlops, IDisposable
{
    private const int MR = 6, TilesPerChunk = 12;
    private static readonly int V = Vector<float>.Count, NR = 2 * Vector<float>.Count;
    private static readonly Vector<float> Cap = new(ActivationMath.Relu6Cap);

    private readonly Conv2dOp _op;
    private readonly NativeBuffer _packed, _bias, _zeros;
    private readonly int _panels;
    private readonly long _panelFloats;
    private readonly Work _work;
    private readonly ImplicitGemm? _gemm;
    private Tensor? _padded;

    public Conv2dCpu(Conv2dOp op)
    {
        _op = op;
        var (kh, kw) = op.Kernel;
        int cin = op.Cin, cout = op.Cout;
        _panels = (cout + NR - 1) / NR;
        _panelFloats = (long)kh * kw * cin * NR;
        _packed = new NativeBuffer(_panelFloats * _panels * sizeof(float));
        _bias = new NativeBuffer((long)_panels * NR * sizeof(float));
        _zeros = new NativeBuffer((long)cin * sizeof(float));
        float* p = (float*)_packed.Pointer;
        for (int o = 0; o < cout; o++)
            for (int i = 0; i < cin; i++)
                for (int a = 0; a < kh; a++)
                    for (int b = 0; b < kw; b++)
                        p[(o / NR) * _panelFloats + (((long)a * kw + b) * cin + i) * NR + o % NR] =
                            op.Weight[(((long)o * cin + i) * kh + a) * kw + b];
        if (op.Bias != null) op.Bias.CopyTo(new Span<float>(_bias.Pointer, cout));
        _work = new Work(this);
        if (op.Dilation == (1, 1))
            _gemm = new ImplicitGemm(new ConvGeometry(cin, cout, (1, kh, kw), (1, op.Stride.H, op.Stride.W),
                (0, op.Pad.H, op.Pad.W), false)
            { Act = op.Act }, op.Weight, op.Bias);
    }

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = inputs[0];
        if (x.Strides[3] != 1) x = CpuChecks.Dense(x);
        CpuChecks.ExpectDense(output, "conv2d");
        Tensor? residual = _op.Residual ? CpuChecks.Dense(inputs[1]) : null;
        long positions = (long)output.Shape[0] * output.Shape[1] * output.Shape[2];
        if (_gemm is not null && ctx.UseSimd)
        {
            _gemm.Run(ctx, Framed(WithBorder(x)), Framed(output), residual is null ? null : Framed(residual));
            return;
        }
        long tiles = (positions + MR - 1) / MR;
        _work.X = x; _work.Y = output; _work.R = residual; _work.Positions = positions; _work.Chunks =
            (int)((tiles + TilesPerChunk - 1) / TilesPerChunk);
        ctx.Pool.Run(_work, _panels * _work.Chunks);
        _work.X = _work.Y = _work.R = null;
    }

    /// <summary>
    /// What <see cref="Run"/> executes for input [N, H, W, Cin] on <paramref name="ctx"/>: the implicit GEMM's count
    /// (<see cref="ImplicitGemm.ExecutedFlops"/>, one frame: positions padded to tiles of 6, channels to panels of 16)
    /// plus its epilogue's residual add per output element, where it runs; otherwise every tile of the direct kernel,
    /// <see cref="MR"/> positions (the last tile's missing ones read the zero row) × every tap (padding taps multiply
    /// the zero row) × Cin × whole panels of 2 vectors, and a residual added to whole panels of each position.
    /// </summary>
    public long ExecutedFlops(CpuContext ctx, IReadOnlyList<int[]> inputShapes)
    {
        int[] x = inputShapes[0], y = _op.OutputShape(inputShapes);
        long positions = (long)y[0] * y[1] * y[2];
        if (_gemm is not null && ctx.UseSimd)
            return ImplicitGemm.ExecutedFlops(_gemm.Geometry, [x[0], 1, x[1], x[2], x[3]])
                + (_op.Residual ? positions * _op.Cout : 0);
        long rows = (positions + MR - 1) / MR * MR, columns = (long)_panels * NR;
        return 2L * rows * _op.Kernel.H * _op.Kernel.W * _op.Cin * columns + (_op.Residual ? positions * columns : 0);
    }

    /// <summary>[N, H, W, C] as the implicit GEMM's [N, 1, H, W, C], sharing memory and halo.</summary>
    private static Tensor Framed(Tensor t) => new(t.Storage, t.Offset, [t.Shape[0], 1, t.Shape[1], t.Shape[2],
        t.Shape[3]], [t.Strides[0], t.Strides[0], t.Strides[1], t.Strides[2], t.Strides[3]],
        t.Halo is null ? null : [0, 0, t.Halo[1], t.Halo[2], 0]);

    /// <summary>The input with the zero border the padding needs: itself when it needs none, else a copy
    /// into a buffer kept for the next calls of that shape or a smaller batch (only its interior is ever
    /// written).</summary>
    private Tensor WithBorder(Tensor x)
    {
        var (ph, pw) = _op.Pad;
        // A halo the input already has belongs to another consumer: not read, its contents are not this op's.
        if ((ph, pw) == (0, 0)) return x.Halo is null ? x : new Tensor(x.Storage, x.Offset, x.Shape, x.Strides);
        // A smaller batch uses the first samples of the buffer (a detector alternates batches of 8 and 5).
        if (_padded is null || _padded.Shape[0] < x.Shape[0]
            || !_padded.Shape.AsSpan(1).SequenceEqual(x.Shape.AsSpan(1)))
        {
            _padded?.Storage.Dispose();
            _padded = Tensor.ZerosWithHalo(x.Shape, [0, ph, pw, 0]);
        }
        int n = x.Shape[0], h = x.Shape[1], w = x.Shape[2], c = x.Shape[3];
        Tensor p = _padded.Shape[0] == x.Shape[0] ? _padded
            : new Tensor(_padded.Storage, _padded.Offset, x.Shape, _padded.Strides, _padded.Halo);
        if (x.Strides[2] != c || x.Strides[3] != 1)
        {
            p.CopyFrom(x.ToArray()); // rows not dense: rare (a caller's strided view)
            return p;
        }
        for (int i = 0; i < n; i++)
            for (int r = 0; r < h; r++)
            {
                float* src = x.Data + i * x.Strides[0] + r * x.Strides[1];
                float* dst = p.Data + i * p.Strides[0] + r * p.Strides[1];
                Buffer.MemoryCopy(src, dst, (long)w * c * sizeof(float), (long)w * c * sizeof(float));
            }
        return p;
    }

    private sealed class Work(Conv2dCpu kernel) : IParallelWork
    {
        public Tensor? X, Y, R;
        public long Positions;
        public int Chunks;

        public void Execute(int item, int thread)
        {
            var op = kernel._op;
            Tensor x = X!, y = Y!;
            int panel = item / Chunks, chunk = item % Chunks;
            int h = x.Shape[1], w = x.Shape[2], cin = op.Cin, cout = op.Cout;
            int ho = y.Shape[1], wo = y.Shape[2];
            var (kh, kw) = op.Kernel;
            int taps = kh * kw, co0 = panel * NR;
            float* wPanel = (float*)kernel._packed.Pointer + panel * kernel._panelFloats;
            float* bias = (float*)kernel._bias.Pointer + co0;
            float* zeros = (float*)kernel._zeros.Pointer;
            // Input row of each (position in tile, tap): the zero row where the tap falls in the padding.
            float** rowsOf = stackalloc float*[MR * taps <= 1024 ? MR * taps : 1];
            float*[]? heap = MR * taps > 1024 ? new float*[MR * taps] : null;
            fixed (float** hp = heap)
            {
                float** src = heap == null ? rowsOf : hp;
                long m0 = (long)chunk * TilesPerChunk * MR, mEnd = Math.Min(Positions, m0 + (long)TilesPerChunk * MR);
                for (long m = m0; m < mEnd; m += MR)
                {
                    int count = (int)Math.Min(MR, mEnd - m);
                    for (int r = 0; r < MR; r++)
                    {
                        if (r >= count) { for (int k = 0; k < taps; k++) src[k * MR + r] = zeros; continue; }
                        long pos = m + r;
                        int ow = (int)(pos % wo), oh = (int)(pos / wo % ho), n = (int)(pos / ((long)wo * ho));
                        for (int a = 0; a < kh; a++)
                        {
                            int ih = oh * op.Stride.H - op.Pad.H + a * op.Dilation.H;
                            for (int b = 0; b < kw; b++)
                            {
                                int iw = ow * op.Stride.W - op.Pad.W + b * op.Dilation.W;
                                src[(a * kw + b) * MR + r] = ih < 0 || ih >= h || iw < 0 || iw >= w
                                    ? zeros
                                    : x.Data + n * x.Strides[0] + ih * x.Strides[1] + iw * x.Strides[2];
                            }
                        }
                    }
                    float* res = R is null ? null : R.Data + m * cout + co0;
                    Tile(src, taps, cin, wPanel, bias, y.Data + m * cout + co0, res, cout, count,
                        Math.Min(NR, cout - co0), op.Act);
                }
            }
        }
    }

    /// <summary>One tile: <paramref name="count"/> positions × <paramref name="cols"/> (≤ 2V) output
    /// channels.</summary>
    private static void Tile(float** src, int taps, int cin, float* w, float* bias, float* y, float* r, int cout,
        int count, int cols, Activation act)
    {
        var b0 = Vector.Load(bias);
        var b1 = Vector.Load(bias + V);
        Vector<float> c00 = b0, c01 = b1, c10 = b0, c11 = b1, c20 = b0, c21 = b1, c30 = b0, c31 = b1, c40 = b0,
            c41 = b1, c50 = b0, c51 = b1;
        for (int k = 0; k < taps; k++)
        {
            float* x0 = src[k * MR], x1 = src[k * MR + 1], x2 = src[k * MR + 2], x3 = src[k * MR + 3],
                x4 = src[k * MR + 4], x5 = src[k * MR + 5];
            float* wk = w + (long)k * cin * NR;
            for (int i = 0; i < cin; i++)
            {
                var w0 = Vector.Load(wk);
                var w1 = Vector.Load(wk + V);
                wk += NR;
                var a = new Vector<float>(x0[i]);
                c00 += a * w0; c01 += a * w1;
                a = new Vector<float>(x1[i]);
                c10 += a * w0; c11 += a * w1;
                a = new Vector<float>(x2[i]);
                c20 += a * w0; c21 += a * w1;
                a = new Vector<float>(x3[i]);
                c30 += a * w0; c31 += a * w1;
                a = new Vector<float>(x4[i]);
                c40 += a * w0; c41 += a * w1;
                a = new Vector<float>(x5[i]);
                c50 += a * w0; c51 += a * w1;
            }
        }
        if (r != null)
        {
            AddRow(r, cols, ref c00, ref c01);
            if (count > 1) AddRow(r + cout, cols, ref c10, ref c11);
            if (count > 2) AddRow(r + 2L * cout, cols, ref c20, ref c21);
            if (count > 3) AddRow(r + 3L * cout, cols, ref c30, ref c31);
            if (count > 4) AddRow(r + 4L * cout, cols, ref c40, ref c41);
            if (count > 5) AddRow(r + 5L * cout, cols, ref c50, ref c51);
        }
        if (act != Activation.None)
        {
            c00 = Activate(act, c00); c01 = Activate(act, c01); c10 = Activate(act, c10); c11 = Activate(act, c11);
            c20 = Activate(act, c20); c21 = Activate(act, c21); c30 = Activate(act, c30); c31 = Activate(act, c31);
            c40 = Activate(act, c40); c41 = Activate(act, c41); c50 = Activate(act, c50); c51 = Activate(act, c51);
        }
        Store(y, cols, c00, c01);
        if (count > 1) Store(y + cout, cols, c10, c11);
        if (count > 2) Store(y + 2L * cout, cols, c20, c21);
        if (count > 3) Store(y + 3L * cout, cols, c30, c31);
        if (count > 4) Store(y + 4L * cout, cols, c40, c41);
        if (count > 5) Store(y + 5L * cout, cols, c50, c51);
    }

    /// <summary>The activation on a vector; NaN survives it, as in the scalar definition.</summary>
    private static Vector<float> Activate(Activation act, Vector<float> v)
    {
        var zero = Vector<float>.Zero;
        return act switch
        {
            Activation.Relu => Vector.ConditionalSelect(Vector.LessThanOrEqual(v, zero), zero, v),
            Activation.Leaky => Vector.ConditionalSelect(Vector.LessThan(v, zero),
                v * new Vector<float>(ActivationMath.LeakySlope), v),
            Activation.Relu6 => Vector.ConditionalSelect(Vector.GreaterThan(v, Cap), Cap,
                Vector.ConditionalSelect(Vector.LessThanOrEqual(v, zero), zero, v)),
            _ => v,
        };
    }

    /// <summary>Adds the first <paramref name="cols"/> values of a residual row to a row of two vectors.</summary>
    private static void AddRow(float* r, int cols, ref Vector<float> lo, ref Vector<float> hi)
    {
        if (cols == NR)
        {
            lo += Vector.Load(r);
            hi += Vector.Load(r + V);
            return;
        }
        float* tmp = stackalloc float[NR];
        new Span<float>(tmp, NR).Clear();
        for (int j = 0; j < cols; j++) tmp[j] = r[j];
        lo += Vector.Load(tmp);
        hi += Vector.Load(tmp + V);
    }

    private static void Store(float* y, int cols, Vector<float> lo, Vector<float> hi)
    {
        if (cols == NR)
        {
            lo.Store(y);
            hi.Store(y + V);
            return;
        }
        float* tmp = stackalloc float[NR];
        lo.Store(tmp);
        hi.Store(tmp + V);
        for (int j = 0; j < cols; j++) y[j] = tmp[j];
    }

    public void Dispose()
    {
        _packed.Dispose(); _bias.Dispose(); _zeros.Dispose(); _gemm?.Dispose(); _padded?.Storage.Dispose();
    }
}
