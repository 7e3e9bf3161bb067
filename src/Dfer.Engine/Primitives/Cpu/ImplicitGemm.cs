using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Dfer.Devices.Cpu;
using Dfer.Ops;
using Dfer.Tensors;

namespace Dfer.Primitives.Cpu;

/// <summary>The shape of a channels-last 3-D convolution that <see cref="ImplicitGemm"/> runs.</summary>
public readonly record struct ConvGeometry(int Cin, int Cout, (int T, int H, int W) Kernel,
    (int T, int H, int W) Stride,
    (int T, int H, int W) Pad, bool Relu)
{
    /// <summary>An activation applied in the epilogue after the bias and residual (none by default; <see cref="Relu"/>
    /// wins when set).</summary>
    public Activation Act { get; init; }

    /// <summary>The zero halo the input needs on each axis of [N, T, H, W, C].</summary>
    public int[] InputHalo => new[] { 0, Pad.T, Pad.H, Pad.W, 0 };
}


/// <summary>
/// A channels-last 3-D convolution (and, as a 1×1×1 one, a plain row GEMM) on the CPU as an implicit GEMM: rows are
/// output positions, columns output channels, the reduction runs over (kt, kh, kw, ci). With channels-last input, the
/// (kw, ci) part of the reduction is one contiguous run of kW·Cin floats, so tiles read the input in place: no im2col
/// buffer. The input's zero halo (≥ padding) replaces bounds checks.
/// Blocking: the reduction is cut into blocks of at most <see cref="KC"/> so a block of packed
/// weights (KC × 16 floats) stays in L1 while a chunk of row tiles streams past it; partial sums
/// live in a per-thread buffer until the last block, then bias, residual and ReLU are applied.
/// Threads: work items are (group of ≤4 output-channel panels × chunk of row tiles); a tile is
/// 6 output positions × 16 output channels held in 12 AVX2 accumulators. The AVX-512 tiles use 24 of the 32 vector
/// registers: a full group runs as 6 positions × 64 channels (four weight loads, six broadcasts per 24 FMAs), a
/// partial group pairs panels and tiles into 12 × 32. Tiles read each row through its own pointer, so the row
/// count is what the 15 general registers allow: with 12 rows the JIT spills row pointers into the loop (seen in its
/// disassembly), with 6 it does not.
/// </summary>
public sealed unsafe class ImplicitGemm : IDisposable
{
    /// <summary>The reduction block: 128 where AVX-512 runs four panels at once (4 × 128 × 16 floats = 32 KB of
    /// weights, inside L1), 256 for the single-panel AVX2 tiles. Blocking never changes the order of the
    /// sums.</summary>
    private static readonly int KC = Avx512F.IsSupported ? 128 : 256;
    private const int MR = 6, NR = 16, TilesPerChunk = 32, PanelsPerGroup = 4;

    private readonly ConvGeometry _op;
    private readonly float[] _weight, _biasValues;
    private readonly NativeBuffer _packed;
    private readonly NativeBuffer _bias;
    private readonly int _panels, _run, _segments;
    private readonly long _panelFloats;
    private readonly TileWork _work;
    // Reduction pieces: a contiguous stretch of one (kt, kh) run; blocks are ranges of pieces.
    private readonly int[] _pieceSegment, _pieceKt, _pieceStart, _pieceLength, _blockFirstPiece;
    private readonly nint[] _pieceOffsets;

    /// <summary>Weight [Cout, Cin, kT, kH, kW] as PyTorch stores it; a null bias is zero.</summary>
    public ImplicitGemm(ConvGeometry op, float[] weight, float[]? bias)
    {
        if (weight.LongLength != (long)op.Cout * op.Cin * op.Kernel.T * op.Kernel.H * op.Kernel.W)
            throw new ArgumentException(
                $"implicit GEMM weight has {weight.LongLength} values, expected "
                + $"[{op.Cout}, {op.Cin}, {op.Kernel.T}, {op.Kernel.H}, {op.Kernel.W}]");
        if (bias != null && bias.Length != op.Cout)
            throw new ArgumentException($"implicit GEMM bias has {bias.Length} values, expected {op.Cout}");
        _op = op;
        _weight = weight;
        _biasValues = bias ?? new float[op.Cout];
        _panels = (op.Cout + NR - 1) / NR;
        _run = op.Kernel.W * op.Cin;
        _segments = op.Kernel.T * op.Kernel.H;
        _panelFloats = (long)_segments * _run * NR;
        _packed = new NativeBuffer(_panelFloats * _panels * sizeof(float));
        _bias = new NativeBuffer((long)_panels * NR * sizeof(float));
        Pack();

        var seg = new List<int>(); var start = new List<int>(); var len = new List<int>(); var blocks =
            new List<int> { 0 };
        int inBlock = 0;
        for (int s = 0; s < _segments; s++)
            for (int k0 = 0; k0 < _run; k0 += KC)
            {
                int l = Math.Min(KC, _run - k0);
                if (inBlock + l > KC) { blocks.Add(seg.Count); inBlock = 0; }
                seg.Add(s); start.Add(k0); len.Add(l);
                inBlock += l;
            }
        blocks.Add(seg.Count);
        (_pieceSegment, _pieceStart, _pieceLength, _blockFirstPiece) =
            (seg.ToArray(), start.ToArray(), len.ToArray(), blocks.ToArray());
        _pieceKt = _pieceSegment.Select(sg => sg / op.Kernel.H).ToArray();
        _pieceOffsets = new nint[seg.Count];
        _work = new TileWork(this);
    }

    public ConvGeometry Geometry => _op;

    /// <summary>Weights to [panel][kt][kh][kw·Cin + ci][16 output channels], zero beyond Cout.</summary>
    private void Pack()
    {
        var (kt, kh, kw) = _op.Kernel;
        int cin = _op.Cin;
        float* p = (float*)_packed.Pointer;
        for (int o = 0; o < _op.Cout; o++)
        {
            int panel = o / NR, j = o % NR;
            for (int i = 0; i < cin; i++)
                for (int a = 0; a < kt; a++)
                    for (int b = 0; b < kh; b++)
                        for (int c = 0; c < kw; c++)
                        {
                            long dst = panel * _panelFloats + ((long)(a * kh + b) * _run + c * cin + i) * NR + j;
                            p[dst] = _weight[((((long)o * cin + i) * kt + a) * kh + b) * kw + c];
                        }
        }
        float* bias = (float*)_bias.Pointer;
        for (int o = 0; o < _op.Cout; o++) bias[o] = _biasValues[o];
    }

    /// <summary>
    /// Runs with a residual (null for none, or <paramref name="y"/> itself to accumulate). Needs no
    /// halo when there is no padding; a 1×1×1 convolution over [M, 1, 1, 1, Cin] views is a plain
    /// GEMM, which is how <see cref="RowGemm"/> uses it.
    /// </summary>
    public void Run(CpuContext ctx, Tensor x, Tensor y, Tensor? residual)
    {
        if (!HasUsableHalo(x)) x = CopyWithHalo(x);
        PrepareInputStrides(x);
        var w = _work;
        w.Ctx = ctx;
        w.Job = MakeJob(x, y, residual, ctx.UseSimd, ctx.UseAvx512, ctx.Threads);
        ctx.Pool.Run(w, w.Job.Items);
        w.Ctx = null; w.Job = default;
    }

    /// <summary>Per-call state of one convolution; kernels share nothing else that changes, so several calls with the
    /// same input strides may run at once.</summary>
    public readonly record struct Job(Tensor X, Tensor Y, Tensor? R, long M, Partition Cut, bool Simd, bool Wide)
    {
        public long Tiles => Cut.Tiles;
        public int PanelGroups => Cut.PanelGroups;
        public int Items => Cut.Items;
    }

    /// <summary>Floats of per-thread scratch <see cref="ExecuteItem"/> needs.</summary>
    public const long ScratchFloats =
        (long)TilesPerChunk * PanelsPerGroup * MR * NR + 6L * TilesPerChunk * MR + 2L * TilesPerChunk;

    /// <summary>Input offsets of the reduction pieces for an input with these strides (every input of later calls must
    /// share them).</summary>
    public void PrepareInputStrides(Tensor x) => PrepareInputStrides(x.Strides[1], x.Strides[2]);

    public void PrepareInputStrides(long strideT, long strideH)
    {
        for (int i = 0; i < _pieceOffsets.Length; i++)
        {
            int s = _pieceSegment[i];
            _pieceOffsets[i] = (nint)((s / _op.Kernel.H) * strideT + (s % _op.Kernel.H) * strideH + _pieceStart[i]);
        }
    }

    /// <summary>The job of one call: input <paramref name="x"/>, output <paramref name="y"/>, residual
    /// <paramref name="r"/> (or null); <paramref name="simd"/> takes the AVX2 tiles, <paramref name="wide"/> also the
    /// 512-bit ones where the CPU has them (<see cref="CpuContext.UseAvx512"/>); its items are cut for
    /// <paramref name="threads"/> threads (<see cref="Partition.For"/>; 1 for a job run whole on one thread).</summary>
    public Job MakeJob(Tensor x, Tensor y, Tensor? r, bool simd, bool wide, int threads = 1)
    {
        if (y.Strides[4] != 1 || (r != null && r.Strides[4] != 1))
            throw new ArgumentException(
                "implicit GEMM output and residual must be channels-last with unit channel stride");
        long m = (long)y.Shape[0] * y.Shape[1] * y.Shape[2] * y.Shape[3];
        return new Job(x, y, r, m, Cut(_op, y.Shape, threads), simd, simd && wide && Avx512F.IsSupported);
    }

    /// <summary>All work items of <paramref name="job"/> on the calling thread (callers that parallelise at a coarser
    /// grain).</summary>
    public void RunSerial(in Job job, float* scratch)
    {
        for (int i = 0; i < job.Items; i++) ExecuteItem(job, i, scratch);
    }

    private bool HasUsableHalo(Tensor x) =>
        (_op.Pad == (0, 0, 0)
        || (x.Halo != null && x.Halo[1] >= _op.Pad.T && x.Halo[2] >= _op.Pad.H && x.Halo[3] >= _op.Pad.W))
        && x.Strides[4] == 1 && x.Strides[3] == _op.Cin;

    private Tensor CopyWithHalo(Tensor x)
    {
        var padded = Tensor.ZerosWithHalo(x.Shape, _op.InputHalo);
        padded.CopyFrom(x.ToArray());
        return padded;
    }

    private sealed class TileWork(ImplicitGemm k) : IParallelWork
    {
        public CpuContext? Ctx;
        public Job Job;

        public void Execute(int index, int thread) => k.ExecuteItem(Job, index, Ctx!.Scratch(thread, ScratchFloats));
    }

    /// <summary>One work item: a group of output-channel panels over a chunk of row tiles.</summary>
    public void ExecuteItem(in Job job, int index, float* scratch)
    {
        var op = _op;
        var x = job.X; var y = job.Y; var r = job.R;
        long M = job.M;
        var (p0, p1, t0, t1) = job.Cut.Item(index);
        int nt = (int)(t1 - t0);
        int to = y.Shape[1], ho = y.Shape[2], wo = y.Shape[3];

        // Scratch: partial sums [tile][panel][6×16], row pointers [tile][6], kt range [tile][2], output and residual
        // row pointers [tile][6].
        float* acc = scratch;
        float** rows = (float**)(acc + (long)TilesPerChunk * PanelsPerGroup * MR * NR);
        int* ktRange = (int*)(rows + TilesPerChunk * MR);
        float** yRows = (float**)(ktRange + 2 * TilesPerChunk), rRows = yRows + TilesPerChunk * MR;
        // A full group on the AVX-512 path stores whole tiles straight from the registers in the last reduction block
        // (bias, residual and ReLU applied there): no round trip through the partial sums, no second pass.
        var act = op.Relu ? Activation.Relu : op.Act;
        bool fused = job.Wide && p1 - p0 == PanelsPerGroup && (p0 + PanelsPerGroup) * NR <= op.Cout
            && (act == Activation.None || act == Activation.Relu);
        int tIn = x.Shape[1];
        // Walk output positions in order instead of dividing per row: divisions cost as much as
        // the arithmetic of a whole tile when the reduction is short (Winograd's products).
        var pos = new Position(Math.Min(t0 * MR, M - 1), to, ho, wo);
        long last = M - 1;
        for (int t = 0; t < nt; t++)
        {
            // Temporal taps that read only the zero halo for every row of the tile are skipped:
            // with 1–4 frames per instance they are a sixth to two thirds of the work.
            int lo = op.Kernel.T, hi = 0;
            for (int i = 0; i < MR; i++)
            {
                WidenTaps(op, pos.T, tIn, ref lo, ref hi);
                rows[t * MR + i] = x.Data + pos.N * x.Strides[0] + (pos.T * op.Stride.T - op.Pad.T) * x.Strides[1]
                                   + (pos.H * op.Stride.H - op.Pad.H) * x.Strides[2] + (pos.W * op.Stride.W - op.Pad.W)
                                   * x.Strides[3];
                if (fused)
                {
                    yRows[t * MR + i] = y.Data + pos.N * y.Strides[0] + pos.T * y.Strides[1] + pos.H * y.Strides[2]
                        + pos.W * y.Strides[3] + p0 * NR;
                    rRows[t * MR + i] = r == null ? null
                        : r.Data + pos.N * r.Strides[0] + pos.T * r.Strides[1] + pos.H * r.Strides[2]
                          + pos.W * r.Strides[3] + p0 * NR;
                }
                // Rows past the end repeat the last position; their results are never stored.
                if ((t0 + t) * MR + i < last) pos.Next();
            }
            ktRange[2 * t] = lo;
            ktRange[2 * t + 1] = hi;
        }

        bool simd = job.Simd, wide = job.Wide;
        var blocks = _blockFirstPiece;
        fixed (nint* offsets = _pieceOffsets)
        fixed (int* lengths = _pieceLength)
        {
            for (int blk = 0; blk + 1 < blocks.Length; blk++)
            {
                int first = blocks[blk], end = blocks[blk + 1];
                for (int p = p0; p < p1; p++)
                {
                    float* panel = (float*)_packed.Pointer + p * _panelFloats;
                    // With AVX-512 a full group of four panels runs as 6×64 tiles (24 accumulators, four weight
                    // loads and six broadcasts per 24 FMAs, few enough row pointers to stay in registers); a partial
                    // group pairs neighbouring panels into 12×32 tiles.
                    if (wide && p == p0 && p1 - p0 == PanelsPerGroup)
                    {
                        for (int t = 0; t < nt; t++)
                        {
                            int a = first, e = end, lo = ktRange[2 * t], hi = ktRange[2 * t + 1];
                            while (a < e && _pieceKt[a] < lo) a++;
                            while (e > a && _pieceKt[e - 1] >= hi) e--;
                            float* b = panel
                                + (long)(_pieceSegment[a < end ? a : first] * _run + _pieceStart[a < end ? a : first])
                                * NR;
                            bool store = fused && blk + 2 == blocks.Length && (t0 + t + 1) * MR <= M;
                            Tile6x64Avx512(rows + t * MR, offsets + a, lengths + a, e - a, b, (nint)_panelFloats,
                                acc + (long)t * PanelsPerGroup * MR * NR, NR, MR * NR, blk == 0,
                                store ? new Store(yRows + t * MR, r == null ? null : rRows + t * MR,
                                    (float*)_bias.Pointer + p0 * NR, act == Activation.Relu) : default);
                        }
                        p += PanelsPerGroup - 1;
                        continue;
                    }
                    bool pair = wide && p + 1 < p1;
                    for (int t = 0; t < nt; t++)
                    {
                        // Pieces run kt-major, so the useful ones of a block are one contiguous range.
                        int a = first, e = end, lo = ktRange[2 * t], hi = ktRange[2 * t + 1];
                        while (a < e && _pieceKt[a] < lo) a++;
                        while (e > a && _pieceKt[e - 1] >= hi) e--;
                        float* b = panel
                            + (long)(_pieceSegment[a < end ? a : first] * _run + _pieceStart[a < end ? a : first]) * NR;
                        float* c = acc + ((long)t * PanelsPerGroup + (p - p0)) * MR * NR;
                        bool twoTiles = wide && t + 1 < nt && ktRange[2 * t + 2] == lo && ktRange[2 * t + 3] == hi;
                        if (pair)
                        {
                            if (twoTiles)
                            {
                                Tile12x32Avx512(rows + t * MR, offsets + a, lengths + a, e - a, b, _panelFloats, c,
                                    (long)PanelsPerGroup * MR * NR, blk == 0);
                                t++;
                            }
                            else
                            {
                                // A tile without a partner: each panel on its own.
                                Tile6x16Avx2(rows + t * MR, offsets + a, lengths + a, e - a, b, c, blk == 0);
                                Tile6x16Avx2(rows + t * MR, offsets + a, lengths + a, e - a, b + _panelFloats,
                                    c + MR * NR, blk == 0);
                            }
                        }
                        else if (twoTiles)
                        {
                            Tile12x16Avx512(rows + t * MR, offsets + a, lengths + a, e - a, b, c,
                                c + (long)PanelsPerGroup * MR * NR, blk == 0);
                            t++;
                        }
                        else if (simd) Tile6x16Avx2(rows + t * MR, offsets + a, lengths + a, e - a, b, c, blk == 0);
                        else TilePortable(rows + t * MR, offsets + a, lengths + a, e - a, b, c, blk == 0);
                    }
                    if (pair) p++;
                }
            }
        }

        float** yRow = stackalloc float*[MR];
        float** rRow = stackalloc float*[MR];
        pos = new Position(t0 * MR, to, ho, wo);
        for (int t = 0; t < nt; t++)
        {
            long m0 = (t0 + t) * MR;
            int valid = (int)Math.Min(MR, M - m0);
            if (fused && valid == MR)
            {
                // Stored by its last tile call.
                for (int i = 0; i < MR; i++) pos.Next();
                continue;
            }
            for (int i = 0; i < valid; i++, pos.Next())
            {
                yRow[i] = y.Data + pos.N * y.Strides[0] + pos.T * y.Strides[1] + pos.H * y.Strides[2] + pos.W
                    * y.Strides[3];
                rRow[i] = r == null ? null
                    : r.Data + pos.N * r.Strides[0] + pos.T * r.Strides[1] + pos.H * r.Strides[2] + pos.W
                    * r.Strides[3];
            }
            for (int p = p0; p < p1; p++)
                Epilogue(acc + ((long)t * PanelsPerGroup + (p - p0)) * MR * NR, valid, p * NR,
                    Math.Min(NR, op.Cout - p * NR),
                    (float*)_bias.Pointer + p * NR, yRow, r == null ? null : rRow, op.Relu ? Activation.Relu : op.Act);
        }
    }

    /// <summary>An output position (n, t, h, w) that steps through positions in row-major order.</summary>
    private struct Position
    {
        private readonly int _to, _ho, _wo;
        public int N, T, H, W;

        public Position(long m, int to, int ho, int wo)
        {
            (_to, _ho, _wo) = (to, ho, wo);
            W = (int)(m % wo); long q = m / wo;
            H = (int)(q % ho); q /= ho;
            T = (int)(q % to); N = (int)(q / to);
        }

        public void Next()
        {
            if (++W < _wo) return;
            W = 0;
            if (++H < _ho) return;
            H = 0;
            if (++T < _to) return;
            T = 0;
            N++;
        }
    }

    /// <summary>Adds one reduction block of a 6×16 tile into <paramref name="c"/> (or starts it when
    /// <paramref name="first"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile6x16Avx2(float** rows, nint* offsets, int* lengths, int pieces, float* b, float* c,
        bool first)
    {
        Vector256<float> c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        if (first)
        {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = Vector256<float>.Zero;
        }
        else
        {
            c00 = Avx.LoadVector256(c); c01 = Avx.LoadVector256(c + 8); c10 = Avx.LoadVector256(c + 16); c11 =
                Avx.LoadVector256(c + 24);
            c20 = Avx.LoadVector256(c + 32); c21 = Avx.LoadVector256(c + 40); c30 = Avx.LoadVector256(c + 48); c31 =
                Avx.LoadVector256(c + 56);
            c40 = Avx.LoadVector256(c + 64); c41 = Avx.LoadVector256(c + 72); c50 = Avx.LoadVector256(c + 80); c51 =
                Avx.LoadVector256(c + 88);
        }
        for (int s = 0; s < pieces; s++)
        {
            nint o = offsets[s];
            nint run = lengths[s];
            float* a0 = rows[0] + o, a1 = rows[1] + o, a2 = rows[2] + o, a3 = rows[3] + o, a4 = rows[4] + o,
                a5 = rows[5] + o;
            for (nint k = 0; k < run; k++)
            {
                var b0 = Avx.LoadVector256(b);
                var b1 = Avx.LoadVector256(b + 8);
                b += NR;
                var v = Vector256.Create(a0[k]); c00 = Fma.MultiplyAdd(v, b0, c00); c01 = Fma.MultiplyAdd(v, b1, c01);
                v = Vector256.Create(a1[k]); c10 = Fma.MultiplyAdd(v, b0, c10); c11 = Fma.MultiplyAdd(v, b1, c11);
                v = Vector256.Create(a2[k]); c20 = Fma.MultiplyAdd(v, b0, c20); c21 = Fma.MultiplyAdd(v, b1, c21);
                v = Vector256.Create(a3[k]); c30 = Fma.MultiplyAdd(v, b0, c30); c31 = Fma.MultiplyAdd(v, b1, c31);
                v = Vector256.Create(a4[k]); c40 = Fma.MultiplyAdd(v, b0, c40); c41 = Fma.MultiplyAdd(v, b1, c41);
                v = Vector256.Create(a5[k]); c50 = Fma.MultiplyAdd(v, b0, c50); c51 = Fma.MultiplyAdd(v, b1, c51);
            }
        }
        Avx.Store(c, c00); Avx.Store(c + 8, c01); Avx.Store(c + 16, c10); Avx.Store(c + 24, c11);
        Avx.Store(c + 32, c20); Avx.Store(c + 40, c21); Avx.Store(c + 48, c30); Avx.Store(c + 56, c31);
        Avx.Store(c + 64, c40); Avx.Store(c + 72, c41); Avx.Store(c + 80, c50); Avx.Store(c + 88, c51);
    }

    /// <summary>Two neighbouring tiles at once with AVX-512: their 12 row pointers are consecutive in
    /// <paramref name="rows"/>; the first tile's sums go to <paramref name="c0"/>, the second's to
    /// <paramref name="c1"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile12x16Avx512(float** rows, nint* offsets, int* lengths, int pieces, float* b, float* c0,
        float* c1, bool first)
    {
        Vector512<float> r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11;
        if (first) r0 = r1 = r2 = r3 = r4 = r5 = r6 = r7 = r8 = r9 = r10 = r11 = Vector512<float>.Zero;
        else
        {
            r0 = Vector512.Load(c0); r1 = Vector512.Load(c0 + 16); r2 = Vector512.Load(c0 + 32);
            r3 = Vector512.Load(c0 + 48); r4 = Vector512.Load(c0 + 64); r5 = Vector512.Load(c0 + 80);
            r6 = Vector512.Load(c1); r7 = Vector512.Load(c1 + 16); r8 = Vector512.Load(c1 + 32);
            r9 = Vector512.Load(c1 + 48); r10 = Vector512.Load(c1 + 64); r11 = Vector512.Load(c1 + 80);
        }
        for (int s = 0; s < pieces; s++)
        {
            nint o = offsets[s];
            nint run = lengths[s];
            float* a0 = rows[0] + o, a1 = rows[1] + o, a2 = rows[2] + o, a3 = rows[3] + o, a4 = rows[4] + o,
                a5 = rows[5] + o, a6 = rows[6] + o, a7 = rows[7] + o, a8 = rows[8] + o, a9 = rows[9] + o,
                a10 = rows[10] + o, a11 = rows[11] + o;
            for (nint k = 0; k < run; k++)
            {
                var w = Vector512.Load(b);
                b += NR;
                r0 = Avx512F.FusedMultiplyAdd(Vector512.Create(a0[k]), w, r0);
                r1 = Avx512F.FusedMultiplyAdd(Vector512.Create(a1[k]), w, r1);
                r2 = Avx512F.FusedMultiplyAdd(Vector512.Create(a2[k]), w, r2);
                r3 = Avx512F.FusedMultiplyAdd(Vector512.Create(a3[k]), w, r3);
                r4 = Avx512F.FusedMultiplyAdd(Vector512.Create(a4[k]), w, r4);
                r5 = Avx512F.FusedMultiplyAdd(Vector512.Create(a5[k]), w, r5);
                r6 = Avx512F.FusedMultiplyAdd(Vector512.Create(a6[k]), w, r6);
                r7 = Avx512F.FusedMultiplyAdd(Vector512.Create(a7[k]), w, r7);
                r8 = Avx512F.FusedMultiplyAdd(Vector512.Create(a8[k]), w, r8);
                r9 = Avx512F.FusedMultiplyAdd(Vector512.Create(a9[k]), w, r9);
                r10 = Avx512F.FusedMultiplyAdd(Vector512.Create(a10[k]), w, r10);
                r11 = Avx512F.FusedMultiplyAdd(Vector512.Create(a11[k]), w, r11);
            }
        }
        r0.Store(c0); r1.Store(c0 + 16); r2.Store(c0 + 32); r3.Store(c0 + 48); r4.Store(c0 + 64); r5.Store(c0 + 80);
        r6.Store(c1); r7.Store(c1 + 16); r8.Store(c1 + 32); r9.Store(c1 + 48); r10.Store(c1 + 64); r11.Store(c1 + 80);
    }

    /// <summary>Where a fused tile goes: 6 output rows (and residual rows, or none) at the group's first channel,
    /// the group's 64 biases, ReLU or no activation. The default (no rows) keeps the partial sums instead.</summary>
    internal readonly struct Store(float** y, float** r, float* bias, bool relu)
    {
        public float** Y => y;
        public float* Bias => bias;

        /// <summary>Row i's 64 values (bias added) plus its residual, through the activation, to the output; the
        /// same order of operations as <see cref="Epilogue"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Row(int i, Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, Vector512<float> v3)
        {
            float* dst = y[i];
            if (r != null)
            {
                float* res = r[i];
                v0 += Vector512.Load(res); v1 += Vector512.Load(res + 16);
                v2 += Vector512.Load(res + 32); v3 += Vector512.Load(res + 48);
            }
            if (relu)
            {
                v0 = Vector512.Max(v0, Vector512<float>.Zero); v1 = Vector512.Max(v1, Vector512<float>.Zero);
                v2 = Vector512.Max(v2, Vector512<float>.Zero); v3 = Vector512.Max(v3, Vector512<float>.Zero);
            }
            v0.Store(dst); v1.Store(dst + 16); v2.Store(dst + 32); v3.Store(dst + 48);
        }
    }

    /// <summary>
    /// One tile on four panels with AVX-512: 6 rows × 64 columns in 24 accumulators, four weight loads and six
    /// broadcasts per 24 FMAs. Row i reads <c>rows[i] + offsets[s]</c> for <paramref name="lengths"/>[s] steps of each
    /// piece s; panel j's weights are <paramref name="panelStride"/>·j floats after <paramref name="b"/>, 16 per step.
    /// The sums for row i, panel j live at <c>c + i·cRow + j·cPanel</c> (loaded first unless <paramref name="first"/>)
    /// unless <paramref name="store"/> names output rows, which then get them with bias, residual and ReLU. The
    /// implicit GEMM's full groups run on it, and so do the QKᵀ tiles of relposattn's flash attention.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Tile6x64Avx512(float** rows, nint* offsets, int* lengths, int pieces, float* b,
        nint panelStride, float* c, nint cRow, nint cPanel, bool first, Store store)
    {
        Vector512<float> p0, p1, p2, p3, p4, p5, q0, q1, q2, q3, q4, q5, u0, u1, u2, u3, u4, u5, v0, v1, v2, v3, v4,
            v5;
        float* c0 = c, c1 = c + cPanel, c2 = c + 2 * cPanel, c3 = c + 3 * cPanel;
        if (first)
        {
            p0 = p1 = p2 = p3 = p4 = p5 = q0 = q1 = q2 = q3 = q4 = q5 = Vector512<float>.Zero;
            u0 = u1 = u2 = u3 = u4 = u5 = v0 = v1 = v2 = v3 = v4 = v5 = Vector512<float>.Zero;
        }
        else
        {
            p0 = Vector512.Load(c0 + 0 * cRow); p1 = Vector512.Load(c0 + 1 * cRow);
            p2 = Vector512.Load(c0 + 2 * cRow); p3 = Vector512.Load(c0 + 3 * cRow);
            p4 = Vector512.Load(c0 + 4 * cRow); p5 = Vector512.Load(c0 + 5 * cRow);
            q0 = Vector512.Load(c1 + 0 * cRow); q1 = Vector512.Load(c1 + 1 * cRow);
            q2 = Vector512.Load(c1 + 2 * cRow); q3 = Vector512.Load(c1 + 3 * cRow);
            q4 = Vector512.Load(c1 + 4 * cRow); q5 = Vector512.Load(c1 + 5 * cRow);
            u0 = Vector512.Load(c2 + 0 * cRow); u1 = Vector512.Load(c2 + 1 * cRow);
            u2 = Vector512.Load(c2 + 2 * cRow); u3 = Vector512.Load(c2 + 3 * cRow);
            u4 = Vector512.Load(c2 + 4 * cRow); u5 = Vector512.Load(c2 + 5 * cRow);
            v0 = Vector512.Load(c3 + 0 * cRow); v1 = Vector512.Load(c3 + 1 * cRow);
            v2 = Vector512.Load(c3 + 2 * cRow); v3 = Vector512.Load(c3 + 3 * cRow);
            v4 = Vector512.Load(c3 + 4 * cRow); v5 = Vector512.Load(c3 + 5 * cRow);
        }
        float* b3 = b + 3 * panelStride;
        for (int s = 0; s < pieces; s++)
        {
            nint o = offsets[s];
            nint run = lengths[s];
            float* a0 = rows[0] + o, a1 = rows[1] + o, a2 = rows[2] + o, a3 = rows[3] + o, a4 = rows[4] + o,
                a5 = rows[5] + o;
            for (nint k = 0; k < run; k++)
            {
                var w0 = Vector512.Load(b);
                var w1 = Vector512.Load(b + panelStride);
                var w2 = Vector512.Load(b + 2 * panelStride);
                var w3 = Vector512.Load(b3);
                b += NR; b3 += NR;
                var x = Vector512.Create(a0[k]);
                p0 = Avx512F.FusedMultiplyAdd(x, w0, p0); q0 = Avx512F.FusedMultiplyAdd(x, w1, q0);
                u0 = Avx512F.FusedMultiplyAdd(x, w2, u0); v0 = Avx512F.FusedMultiplyAdd(x, w3, v0);
                x = Vector512.Create(a1[k]);
                p1 = Avx512F.FusedMultiplyAdd(x, w0, p1); q1 = Avx512F.FusedMultiplyAdd(x, w1, q1);
                u1 = Avx512F.FusedMultiplyAdd(x, w2, u1); v1 = Avx512F.FusedMultiplyAdd(x, w3, v1);
                x = Vector512.Create(a2[k]);
                p2 = Avx512F.FusedMultiplyAdd(x, w0, p2); q2 = Avx512F.FusedMultiplyAdd(x, w1, q2);
                u2 = Avx512F.FusedMultiplyAdd(x, w2, u2); v2 = Avx512F.FusedMultiplyAdd(x, w3, v2);
                x = Vector512.Create(a3[k]);
                p3 = Avx512F.FusedMultiplyAdd(x, w0, p3); q3 = Avx512F.FusedMultiplyAdd(x, w1, q3);
                u3 = Avx512F.FusedMultiplyAdd(x, w2, u3); v3 = Avx512F.FusedMultiplyAdd(x, w3, v3);
                x = Vector512.Create(a4[k]);
                p4 = Avx512F.FusedMultiplyAdd(x, w0, p4); q4 = Avx512F.FusedMultiplyAdd(x, w1, q4);
                u4 = Avx512F.FusedMultiplyAdd(x, w2, u4); v4 = Avx512F.FusedMultiplyAdd(x, w3, v4);
                x = Vector512.Create(a5[k]);
                p5 = Avx512F.FusedMultiplyAdd(x, w0, p5); q5 = Avx512F.FusedMultiplyAdd(x, w1, q5);
                u5 = Avx512F.FusedMultiplyAdd(x, w2, u5); v5 = Avx512F.FusedMultiplyAdd(x, w3, v5);
            }
        }
        if (store.Y != null)
        {
            var bb0 = Vector512.Load(store.Bias); var bb1 = Vector512.Load(store.Bias + 16);
            var bb2 = Vector512.Load(store.Bias + 32); var bb3 = Vector512.Load(store.Bias + 48);
            store.Row(0, p0 + bb0, q0 + bb1, u0 + bb2, v0 + bb3); store.Row(1, p1 + bb0, q1 + bb1, u1 + bb2, v1 + bb3);
            store.Row(2, p2 + bb0, q2 + bb1, u2 + bb2, v2 + bb3); store.Row(3, p3 + bb0, q3 + bb1, u3 + bb2, v3 + bb3);
            store.Row(4, p4 + bb0, q4 + bb1, u4 + bb2, v4 + bb3); store.Row(5, p5 + bb0, q5 + bb1, u5 + bb2, v5 + bb3);
            return;
        }
        p0.Store(c0 + 0 * cRow); p1.Store(c0 + 1 * cRow); p2.Store(c0 + 2 * cRow); p3.Store(c0 + 3 * cRow);
        p4.Store(c0 + 4 * cRow); p5.Store(c0 + 5 * cRow); q0.Store(c1 + 0 * cRow); q1.Store(c1 + 1 * cRow);
        q2.Store(c1 + 2 * cRow); q3.Store(c1 + 3 * cRow); q4.Store(c1 + 4 * cRow); q5.Store(c1 + 5 * cRow);
        u0.Store(c2 + 0 * cRow); u1.Store(c2 + 1 * cRow); u2.Store(c2 + 2 * cRow); u3.Store(c2 + 3 * cRow);
        u4.Store(c2 + 4 * cRow); u5.Store(c2 + 5 * cRow); v0.Store(c3 + 0 * cRow); v1.Store(c3 + 1 * cRow);
        v2.Store(c3 + 2 * cRow); v3.Store(c3 + 3 * cRow); v4.Store(c3 + 4 * cRow); v5.Store(c3 + 5 * cRow);
    }

    /// <summary>Two neighbouring tiles on two neighbouring panels with AVX-512: 12 rows × 32 output channels in 24
    /// accumulators, two weight loads and twelve broadcasts for 24 FMAs per step (the 12×16 tile needs a load per FMA,
    /// which keeps it below the FMA peak). Panel p's weights are at <paramref name="b"/>, panel p+1's
    /// <paramref name="panelStride"/> floats on; a tile's sums for panel p+1 follow its sums for panel p (6×16 floats
    /// on), the second tile's sums are <paramref name="tileStride"/> floats after the first's.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile12x32Avx512(float** rows, nint* offsets, int* lengths, int pieces, float* b,
        long panelStride, float* c, long tileStride, bool first)
    {
        const int Q = MR * NR;
        float* c1 = c + tileStride;
        Vector512<float> r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11;
        Vector512<float> s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11;
        if (first)
        {
            r0 = r1 = r2 = r3 = r4 = r5 = r6 = r7 = r8 = r9 = r10 = r11 = Vector512<float>.Zero;
            s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = s8 = s9 = s10 = s11 = Vector512<float>.Zero;
        }
        else
        {
            r0 = Vector512.Load(c); r1 = Vector512.Load(c + 16); r2 = Vector512.Load(c + 32);
            r3 = Vector512.Load(c + 48); r4 = Vector512.Load(c + 64); r5 = Vector512.Load(c + 80);
            r6 = Vector512.Load(c1); r7 = Vector512.Load(c1 + 16); r8 = Vector512.Load(c1 + 32);
            r9 = Vector512.Load(c1 + 48); r10 = Vector512.Load(c1 + 64); r11 = Vector512.Load(c1 + 80);
            s0 = Vector512.Load(c + Q); s1 = Vector512.Load(c + Q + 16); s2 = Vector512.Load(c + Q + 32);
            s3 = Vector512.Load(c + Q + 48); s4 = Vector512.Load(c + Q + 64); s5 = Vector512.Load(c + Q + 80);
            s6 = Vector512.Load(c1 + Q); s7 = Vector512.Load(c1 + Q + 16); s8 = Vector512.Load(c1 + Q + 32);
            s9 = Vector512.Load(c1 + Q + 48); s10 = Vector512.Load(c1 + Q + 64); s11 = Vector512.Load(c1 + Q + 80);
        }
        float* bp = b + panelStride;
        for (int s = 0; s < pieces; s++)
        {
            nint o = offsets[s];
            nint run = lengths[s];
            float* a0 = rows[0] + o, a1 = rows[1] + o, a2 = rows[2] + o, a3 = rows[3] + o, a4 = rows[4] + o,
                a5 = rows[5] + o, a6 = rows[6] + o, a7 = rows[7] + o, a8 = rows[8] + o, a9 = rows[9] + o,
                a10 = rows[10] + o, a11 = rows[11] + o;
            for (nint k = 0; k < run; k++)
            {
                var w0 = Vector512.Load(b);
                var w1 = Vector512.Load(bp);
                b += NR; bp += NR;
                var v = Vector512.Create(a0[k]);
                r0 = Avx512F.FusedMultiplyAdd(v, w0, r0); s0 = Avx512F.FusedMultiplyAdd(v, w1, s0);
                v = Vector512.Create(a1[k]);
                r1 = Avx512F.FusedMultiplyAdd(v, w0, r1); s1 = Avx512F.FusedMultiplyAdd(v, w1, s1);
                v = Vector512.Create(a2[k]);
                r2 = Avx512F.FusedMultiplyAdd(v, w0, r2); s2 = Avx512F.FusedMultiplyAdd(v, w1, s2);
                v = Vector512.Create(a3[k]);
                r3 = Avx512F.FusedMultiplyAdd(v, w0, r3); s3 = Avx512F.FusedMultiplyAdd(v, w1, s3);
                v = Vector512.Create(a4[k]);
                r4 = Avx512F.FusedMultiplyAdd(v, w0, r4); s4 = Avx512F.FusedMultiplyAdd(v, w1, s4);
                v = Vector512.Create(a5[k]);
                r5 = Avx512F.FusedMultiplyAdd(v, w0, r5); s5 = Avx512F.FusedMultiplyAdd(v, w1, s5);
                v = Vector512.Create(a6[k]);
                r6 = Avx512F.FusedMultiplyAdd(v, w0, r6); s6 = Avx512F.FusedMultiplyAdd(v, w1, s6);
                v = Vector512.Create(a7[k]);
                r7 = Avx512F.FusedMultiplyAdd(v, w0, r7); s7 = Avx512F.FusedMultiplyAdd(v, w1, s7);
                v = Vector512.Create(a8[k]);
                r8 = Avx512F.FusedMultiplyAdd(v, w0, r8); s8 = Avx512F.FusedMultiplyAdd(v, w1, s8);
                v = Vector512.Create(a9[k]);
                r9 = Avx512F.FusedMultiplyAdd(v, w0, r9); s9 = Avx512F.FusedMultiplyAdd(v, w1, s9);
                v = Vector512.Create(a10[k]);
                r10 = Avx512F.FusedMultiplyAdd(v, w0, r10); s10 = Avx512F.FusedMultiplyAdd(v, w1, s10);
                v = Vector512.Create(a11[k]);
                r11 = Avx512F.FusedMultiplyAdd(v, w0, r11); s11 = Avx512F.FusedMultiplyAdd(v, w1, s11);
            }
        }
        r0.Store(c); r1.Store(c + 16); r2.Store(c + 32); r3.Store(c + 48); r4.Store(c + 64); r5.Store(c + 80);
        r6.Store(c1); r7.Store(c1 + 16); r8.Store(c1 + 32); r9.Store(c1 + 48); r10.Store(c1 + 64); r11.Store(c1 + 80);
        s0.Store(c + Q); s1.Store(c + Q + 16); s2.Store(c + Q + 32); s3.Store(c + Q + 48); s4.Store(c + Q + 64);
        s5.Store(c + Q + 80);
        s6.Store(c1 + Q); s7.Store(c1 + Q + 16); s8.Store(c1 + Q + 32); s9.Store(c1 + Q + 48); s10.Store(c1 + Q + 64);
        s11.Store(c1 + Q + 80);
    }

    /// <summary>The same tile without SIMD intrinsics, for machines without AVX2/FMA.</summary>
    private static void TilePortable(float** rows, nint* offsets, int* lengths, int pieces, float* b, float* c,
        bool first)
    {
        if (first) new Span<float>(c, MR * NR).Clear();
        for (int s = 0; s < pieces; s++)
        {
            for (int k = 0; k < lengths[s]; k++, b += NR)
                for (int i = 0; i < MR; i++)
                {
                    float a = rows[i][offsets[s] + k];
                    for (int j = 0; j < NR; j++) c[i * NR + j] = MathF.FusedMultiplyAdd(a, b[j], c[i * NR + j]);
                }
        }
    }
    private static void Epilogue(float* acc, int rows, int col0, int cols, float* bias, float** y, float** res,
        Activation act)
    {
        bool relu = act == Activation.Relu;
        for (int i = 0; i < rows; i++)
        {
            float* dst = y[i] + col0;
            float* src = acc + i * NR;
            float* rr = res == null ? null : res[i] + col0;
            if (cols == NR && Vector256.IsHardwareAccelerated)
            {
                for (int h = 0; h < NR; h += 8)
                {
                    var v = Vector256.Load(src + h) + Vector256.Load(bias + h);
                    if (rr != null) v += Vector256.Load(rr + h);
                    if (relu) v = Vector256.Max(v, Vector256<float>.Zero);
                    else if (act != Activation.None) v = ActivationMath.Apply(act, v);
                    v.Store(dst + h);
                }
            }
            else
            {
                for (int j = 0; j < cols; j++)
                {
                    float v = src[j] + bias[j];
                    if (rr != null) v += rr[j];
                    dst[j] = relu ? MathF.Max(v, 0f) : ActivationMath.Apply(act, v);
                }
            }
        }
    }

    public void Dispose()
    {
        _packed.Dispose();
        _bias.Dispose();
    }

    /// <summary>
    /// The FLOPs (2 per multiply-add) <see cref="Run"/> executes for a convolution <paramref name="op"/> over an input
    /// of <paramref name="inputShape"/> [N, T, H, W, Cin]: twice the multiply-adds of its work items
    /// (<see cref="WorkItems(ConvGeometry, int[], int[], int)"/>), which walk the same tiles, not the hot loop:
    /// output positions in row-major (n, t, h, w) order cut into tiles of 6, the last tile padded by repeating the
    /// last position (its extra rows are computed, never stored); per tile only the temporal taps that read a frame
    /// for some row of the tile (<see cref="ExecuteItem"/>'s lo/hi); every panel of 16 output channels in full, zero
    /// columns beyond Cout included. The epilogue's bias, residual and activation are not counted, as conv3d's
    /// nominal count (<c>Op.Flops</c>) leaves them out too.
    /// </summary>
    public static long ExecutedFlops(ConvGeometry op, int[] inputShape)
    {
        if (inputShape.Length != 5 || inputShape[4] != op.Cin)
            throw new ArgumentException(
                $"implicit GEMM count: input {Tensor.FormatShape(inputShape)} is not [N, T, H, W, {op.Cin}]");
        static int Extent(int size, int k, int s, int p) => (size + 2 * p - k) / s + 1;
        int[] y =
        [
            inputShape[0], Extent(inputShape[1], op.Kernel.T, op.Stride.T, op.Pad.T),
            Extent(inputShape[2], op.Kernel.H, op.Stride.H, op.Pad.H),
            Extent(inputShape[3], op.Kernel.W, op.Stride.W, op.Pad.W), op.Cout,
        ];
        // The items' multiply-adds do not depend on the cut: one thread's is as good as any.
        long macs = 0;
        foreach (var item in WorkItems(op, inputShape, y, 1)) macs += item.Macs;
        return 2 * macs;
    }

    /// <summary>Widens a tile's temporal taps [lo, hi) by those of an output row at frame <paramref name="tOut"/> over
    /// <paramref name="tIn"/> input frames. Taps outside the tile's range read only the zero halo for each of its rows,
    /// and <see cref="ExecuteItem"/> skips them.</summary>
    private static void WidenTaps(in ConvGeometry op, int tOut, int tIn, ref int lo, ref int hi)
    {
        int tBase = tOut * op.Stride.T - op.Pad.T;
        lo = Math.Min(lo, Math.Max(0, -tBase));
        hi = Math.Max(hi, Math.Min(op.Kernel.T, tIn - tBase));
    }

    /// <summary>
    /// How one call's output is cut into work items: groups of <see cref="GroupPanels"/> output-channel panels (16
    /// channels each) × chunks of <see cref="Chunk"/> row tiles (6 output positions each). Item i is panel group
    /// i mod <see cref="PanelGroups"/> of chunk i div <see cref="PanelGroups"/>, so items the pool hands out one after
    /// another share their input rows.
    /// </summary>
    public readonly record struct Partition(long Tiles, int Panels, int GroupPanels, int Chunk)
    {
        public int PanelGroups => (Panels + GroupPanels - 1) / GroupPanels;
        public long Chunks => (Tiles + Chunk - 1) / Chunk;
        public int Items => (int)(PanelGroups * Chunks);

        /// <summary>Item <paramref name="index"/>'s panels [P0, P1) and row tiles [T0, T1).</summary>
        public (int P0, int P1, long T0, long T1) Item(int index)
        {
            int p0 = index % PanelGroups * GroupPanels;
            long t0 = index / PanelGroups * (long)Chunk;
            return (p0, Math.Min(Panels, p0 + GroupPanels), t0, Math.Min(Tiles, t0 + Chunk));
        }

        /// <summary>
        /// The cut of <paramref name="tiles"/> row tiles and <paramref name="panels"/> panels for
        /// <paramref name="threads"/> threads: 4 panels × 32 tiles (what <see cref="ScratchFloats"/> holds) while that
        /// gives at least 4 items per thread, enough for the pool's claiming to even out uneven items and noisy cores.
        /// With fewer, items shrink until there are 4 per thread or they are 2 panels × 2 tiles (one 12×32 AVX-512
        /// block). An item brings its tiles' inputs (6 rows a tile) and its panels' weights (16 columns a panel) into
        /// cache once, so what it reads per multiply-add goes as 6 / panels + 16 / tiles: groups of 4 panels while an
        /// item holds at least 64/3 tile-panels, of 2 below; the chunks are then evened out.
        /// </summary>
        public static Partition For(long tiles, int panels, int threads)
        {
            var cut = new Partition(tiles, panels, PanelsPerGroup, TilesPerChunk);
            long want = 4L * threads;
            if (threads <= 1 || tiles == 0 || cut.Items >= want) return cut;
            double size = (double)tiles * panels / want;
            int group = Math.Min(panels, 3 * size >= 64 ? PanelsPerGroup : 2);
            int groups = (panels + group - 1) / group;
            long chunk = Math.Clamp(tiles / ((want + groups - 1) / groups), 2, TilesPerChunk);
            long chunks = (tiles + chunk - 1) / chunk;
            return new(tiles, panels, group, (int)((tiles + chunks - 1) / chunks));
        }
    }

    /// <summary>Output channels per panel.</summary>
    public const int PanelWidth = NR;

    /// <summary>The cut <see cref="Run"/> makes of output shape <paramref name="y"/> ([N, T, H, W, Cout]) on
    /// <paramref name="threads"/> threads (<see cref="Partition.For"/>).</summary>
    public static Partition Cut(in ConvGeometry op, int[] y, int threads) =>
        Partition.For(((long)y[0] * y[1] * y[2] * y[3] + MR - 1) / MR, (op.Cout + NR - 1) / NR, threads);

    /// <summary>The items of panel groups [<paramref name="firstGroup"/>, <paramref name="endGroup"/>) of
    /// <paramref name="job"/>, chunk after chunk, on the calling thread.</summary>
    public void RunSerial(in Job job, float* scratch, int firstGroup, int endGroup)
    {
        for (long c = 0; c < job.Cut.Chunks; c++)
            for (int g = firstGroup; g < endGroup; g++) ExecuteItem(job, (int)(c * job.PanelGroups + g), scratch);
    }

    /// <summary>A work item as <see cref="WorkItems(ConvGeometry, int[], int[], int)"/> lists it: panels [P0, P1) over
    /// row tiles [T0, T1), the multiply-adds its register tiles execute and the packed weight floats it
    /// reads.</summary>
    public readonly record struct WorkItem(int P0, int P1, long T0, long T1, long Macs, long WeightFloats);

    /// <summary>
    /// The work items <see cref="Run"/> hands the pool for input shape <paramref name="x"/> and output shape
    /// <paramref name="y"/> (both [N, T, H, W, C]) on <paramref name="threads"/> threads, in index order: the
    /// thread-scaling model's view of this kernel (docs/performance.md, "Thread scaling"). The multiply-adds are what
    /// the tiles execute, 6 rows × 16 channels per tile, panel and reduction step (rows past M and channels past Cout
    /// included), over the temporal taps <see cref="ExecuteItem"/> keeps for each tile. The weight floats are the
    /// item's panels over the taps any of its tiles keeps, streamed once per item.
    /// </summary>
    public static WorkItem[] WorkItems(ConvGeometry op, int[] x, int[] y, int threads) =>
        WorkItems(op, x, y, Cut(op, y, threads));

    /// <summary>The work items of <paramref name="cut"/> (<see cref="WorkItems(ConvGeometry, int[], int[], int)"/>),
    /// for callers that run a job cut otherwise.</summary>
    public static WorkItem[] WorkItems(ConvGeometry op, int[] x, int[] y, Partition cut)
    {
        long m = (long)y[0] * y[1] * y[2] * y[3];
        long perTap = (long)op.Kernel.H * op.Kernel.W * op.Cin;
        // Each tile's taps, its rows walked as ExecuteItem walks them (rows past M repeat the last position).
        var lo = new int[cut.Tiles];
        var hi = new int[cut.Tiles];
        var pos = new Position(0, y[1], y[2], y[3]);
        for (long t = 0; t < cut.Tiles; t++)
        {
            int l = op.Kernel.T, h = 0;
            for (int i = 0; i < MR; i++)
            {
                WidenTaps(op, pos.T, x[1], ref l, ref h);
                if (t * MR + i < m - 1) pos.Next();
            }
            (lo[t], hi[t]) = (l, h);
        }
        var items = new WorkItem[cut.Items];
        for (int i = 0; i < items.Length; i++)
        {
            var (p0, p1, t0, t1) = cut.Item(i);
            long steps = 0;
            int first = op.Kernel.T, end = 0;
            for (long t = t0; t < t1; t++)
            {
                steps += Math.Max(0, hi[t] - lo[t]) * perTap;
                (first, end) = (Math.Min(first, lo[t]), Math.Max(end, hi[t]));
            }
            items[i] = new WorkItem(p0, p1, t0, t1, (p1 - p0) * (long)MR * NR * steps,
                (p1 - p0) * (long)NR * Math.Max(0, end - first) * perTap);
        }
        return items;
    }
}
