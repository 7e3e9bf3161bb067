using System.Runtime.Intrinsics;
using Dfer.Devices.Cpu;
using Dfer.Primitives.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.Conv3d;

/// <summary>
/// conv3d 3×3×3, stride 1, padding 1, by Winograd F(2×2, 3×3) over (h, w) and direct summation
/// over t: each 4×4 input patch (stride 2) is transformed (Bᵀ d B) into 16 "frequency" images; for
/// each of them a (3,1,1) convolution over t and channels — our direct implicit GEMM — multiplies
/// by the transformed weights (G g Gᵀ); the inverse transform (Aᵀ m A) yields 2×2 outputs, then
/// bias, residual and ReLU. Multiplications per output drop from 27·Cin to 12·Cin (2.25×); the
/// transforms use only ±1 and ½, so fp32 error stays within a few ulps of the direct method.
/// Threads: one work item per (sample, block of tile rows), and per part of the output channels when that
/// gives too few, does all three steps in its own cache.
/// </summary>
public sealed unsafe class Conv3dWinogradCpu : ICpuKernel, IExecutedFlops, IDisposable
{
    private const int Xi = 16;

    /// <summary>
    /// What transforming one input channel of one 4×4 tile in one frame costs, in the products' multiply-adds (at 16 a
    /// core cycle: two 8-lane FMAs): 20 cycles. It writes 16 floats to 16 images that do not stay in L1, and on
    /// frames of 7×7 and 256 channels not in L2 either: `perf --conv --batch 1 --threads 2` on the 2-core AVX-512
    /// Xeon, layer3 conv, items split in two parts of the output channels (each part transforms the input again)
    /// took 2.4–2.8 ms against 2.1–2.6 ms unsplit (medians of 21, runs alternated), about 10 ns more per extra
    /// tile-channel. Cuts for many threads weigh repeated input transforms with it (<see cref="Geometry"/>).
    /// </summary>
    public const int InputTransformCost = 20 * 16;

    /// <summary>The inverse transform of one output channel of one tile in one frame, with bias, residual and ReLU: 16
    /// loads from the products (in L2) and up to 4 stores, taken as 4 cycles.</summary>
    public const int OutputTransformCost = 4 * 16;

    private readonly Conv3dOp _op;
    private readonly ImplicitGemm[] _products;
    private readonly NativeBuffer _bias;
    private readonly NativeBuffer _zeros;
    private readonly WinogradWork _work;

    /// <summary>True for the convolutions this kernel computes exactly as conv3d defines them.</summary>
    public static bool Applies(Conv3dOp op) =>
        op.Kernel == (3, 3, 3) && op.Stride == (1, 1, 1) && op.Pad == (1, 1, 1);

    public Conv3dWinogradCpu(Conv3dOp op)
    {
        if (!Applies(op)) throw new ArgumentException("Winograd conv3d needs k=3x3x3, s=1, p=1");
        _op = op;
        // U_ξ[o, i, kt] = (G g Gᵀ)_ξ for g = W[o, i, kt, :, :], computed in double.
        var u = new float[Xi][];
        for (int x = 0; x < Xi; x++) u[x] = new float[(long)op.Cout * op.Cin * 3];
        Span<double> g = stackalloc double[9];
        Span<double> tmp = stackalloc double[12];
        for (int o = 0; o < op.Cout; o++)
            for (int i = 0; i < op.Cin; i++)
                for (int kt = 0; kt < 3; kt++)
                {
                    long w0 = (((long)o * op.Cin + i) * 3 + kt) * 9;
                    for (int k = 0; k < 9; k++) g[k] = op.Weight[w0 + k];
                    for (int c = 0; c < 3; c++)
                    {
                        tmp[0 * 3 + c] = g[c];
                        tmp[1 * 3 + c] = 0.5 * (g[c] + g[3 + c] + g[6 + c]);
                        tmp[2 * 3 + c] = 0.5 * (g[c] - g[3 + c] + g[6 + c]);
                        tmp[3 * 3 + c] = g[6 + c];
                    }
                    for (int r = 0; r < 4; r++)
                    {
                        double a = tmp[r * 3], b = tmp[r * 3 + 1], c = tmp[r * 3 + 2];
                        long dst = ((long)o * op.Cin + i) * 3 + kt;
                        u[r * 4 + 0][dst] = (float)a;
                        u[r * 4 + 1][dst] = (float)(0.5 * (a + b + c));
                        u[r * 4 + 2][dst] = (float)(0.5 * (a - b + c));
                        u[r * 4 + 3][dst] = (float)c;
                    }
                }
        _products = u.Select(w => new ImplicitGemm(ProductGeometry(op), w, null)).ToArray();
        _bias = new NativeBuffer(op.Cout * sizeof(float));
        op.Bias.CopyTo(new Span<float>(_bias.Pointer, op.Cout));
        _zeros = new NativeBuffer(op.Cin * sizeof(float));
        _work = new WinogradWork(this);
    }

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = inputs[0];
        var r = _op.Residual ? inputs[1] : null;
        if (x.Strides[4] != 1 || output.Strides[4] != 1 || (r != null && r.Strides[4] != 1))
            throw new ArgumentException("conv3d tensors must be channels-last with unit channel stride");
        var g = new Geometry(x.Shape, _op.Cin, _op.Cout, ctx.Threads);
        // All items lay their transformed images out alike, so the products' input offsets are shared.
        foreach (var p in _products) p.PrepareInputStrides(g.VStrides[1], g.VStrides[2]);
        _work.Set(ctx, x, output, r, g);
        ctx.Pool.Run(_work, g.Items);
        _work.Set(null, null, null, null, default);
    }

    public long ExecutedFlops(CpuContext ctx, IReadOnlyList<int[]> inputShapes) =>
        Executed(_op, inputShapes[0], ctx.Threads);

    /// <summary>
    /// The FLOPs a run on <paramref name="inputShape"/> [N, T, H, W, Cin] with <paramref name="threads"/> threads
    /// executes, item by item as <see cref="WorkItems"/> cuts them (the cut depends on the thread count): each item's
    /// input transform, 32 adds per 4×4 patch and input channel (16 for Bᵀ d, 16 for (Bᵀ d) B; an item that computes
    /// a part of the output channels transforms the whole input again); its 16 products, (3,1,1) implicit GEMMs over
    /// the item's transformed images with the zero frames before and after as temporal padding (taps meeting only
    /// those frames skipped, rows and channels padded to whole tiles, 2 FLOPs per multiply-add); its output transform,
    /// per patch and output channel 16 adds for the rows of Aᵀ m; then per output 2 adds, the bias and the residual.
    /// ReLU is not counted.
    /// </summary>
    internal static long Executed(Conv3dOp op, int[] inputShape, int threads)
    {
        long flops = 0;
        foreach (var item in WorkItems(op, inputShape, threads))
            flops += 32 * item.InputTransforms + 2 * item.Macs + 16 * item.OutputTransforms;
        long outputs = (long)inputShape[0] * inputShape[1] * inputShape[2] * inputShape[3];
        return flops + outputs * (op.Residual ? 4 : 3) * op.Cout;
    }

    /// <summary>
    /// Sizes of one work item: a sample and a block of tile rows, all frames, and a range of output
    /// channels (all of them unless there are too few items). Its 16 transformed images (with a zero
    /// frame before and after, read as t-padding) and 16 products live in the thread's scratch, small
    /// enough to stay in L2 between the three steps.
    /// </summary>
    private readonly record struct Geometry
    {
        public Geometry(int[] x, int cin, int cout, int threads)
        {
            (N, T, H, W, Cin, Cout) = (x[0], x[1], x[2], x[3], cin, cout);
            (Th, Tw) = ((H + 1) / 2, (W + 1) / 2);
            // Each product streams its transformed weights once per item, so an item needs enough
            // output positions to amortise them; beyond that, smaller items stay in L2. 48 rows
            // measured best across M3DFEL's shapes (perf --conv).
            Rows = Math.Clamp((MinProductRows + T * Tw - 1) / (T * Tw), 1, Th);
            Blocks = (Th + Rows - 1) / Rows;
            // The products' own panel groups (their cut for one thread); an item runs all of them.
            int panels = (cout + ImplicitGemm.PanelWidth - 1) / ImplicitGemm.PanelWidth;
            var own = ImplicitGemm.Partition.For(1, panels, 1);
            (ProductGroupPanels, GroupsPerSplit) = (own.GroupPanels, own.PanelGroups);
            if (threads > 1 && (long)N * Blocks < 4L * threads)
            {
                // Fewer than 4 items per thread (small batches, small frames): the cut with the shortest
                // estimated time (Estimate) among fewer tile rows per item and parts of the output channels,
                // down to 1 row and pairs of panels (one 12×32 AVX-512 block). Ties keep the larger items.
                int rows0 = Rows;
                double best = Estimate(N, T, Tw, Th, cin, cout, rows0, own.GroupPanels, own.PanelGroups, threads);
                for (int k = own.PanelGroups; k >= 0; k--)
                {
                    // k groups of 4 panels a part; k = 0 stands for parts of 2 panels.
                    var (gp, perPart) = k > 0 ? (own.GroupPanels, k) : (Math.Min(2, panels), 1);
                    for (int rows = rows0; rows >= 1; rows--)
                    {
                        double time = Estimate(N, T, Tw, Th, cin, cout, rows, gp, perPart, threads);
                        if (time < best * (1 - 1e-9))
                            (best, Rows, ProductGroupPanels, GroupsPerSplit) = (time, rows, gp, perPart);
                    }
                }
                Blocks = (Th + Rows - 1) / Rows;
            }
            Splits = (ProductGroups + GroupsPerSplit - 1) / GroupsPerSplit;
            VStrides = new[] { VImage, (long)Rows * Tw * Cin, (long)Tw * Cin, Cin, 1L };
            MStrides = new[] { MImage, (long)Rows * Tw * Cout, (long)Tw * Cout, Cout, 1L };
        }

        private const int MinProductRows = 48;

        /// <summary>
        /// The time of a cut, in multiply-adds: rounds of items on <paramref name="threads"/> threads × an item's
        /// cost, its products' multiply-adds (T·rows·Tw positions rounded up to tiles of 6, the average temporal
        /// taps a frame keeps, its channels rounded up to panels) and its transforms (<see cref="InputTransformCost"/>
        /// for every input channel, <see cref="OutputTransformCost"/> for its output channels).
        /// </summary>
        private static double Estimate(int n, int t, int tw, int th, int cin, int cout, int rows, int groupPanels,
            int groupsPerPart, int threads)
        {
            int width = ImplicitGemm.PanelWidth;
            int panels = (cout + width - 1) / width, groups = (panels + groupPanels - 1) / groupPanels;
            int parts = (groups + groupsPerPart - 1) / groupsPerPart;
            int channels = Math.Min(cout, groupsPerPart * groupPanels * width);
            long items = (long)n * ((th + rows - 1) / rows) * parts;
            long positions = (long)t * rows * tw;
            double taps = t == 1 ? 1 : (3.0 * t - 2) / t;
            double products = Xi * ((positions + 5) / 6 * 6) * taps * cin
                * ((channels + width - 1) / width * width);
            double transforms = positions * ((double)cin * InputTransformCost + channels * OutputTransformCost);
            return (items + threads - 1) / threads * (products + transforms);
        }

        public int N { get; }
        public int T { get; }
        public int H { get; }
        public int W { get; }
        public int Cin { get; }
        public int Cout { get; }
        public int Th { get; }
        public int Tw { get; }
        public int Rows { get; }
        public int Blocks { get; }
        /// <summary>Panels per group of the products' jobs, and groups per item: an item's channels.</summary>
        public int ProductGroupPanels { get; }
        public int GroupsPerSplit { get; }
        /// <summary>Parts the output channels are split into, each its own item.</summary>
        public int Splits { get; }
        private int ProductGroups => (Cout + ImplicitGemm.PanelWidth * ProductGroupPanels - 1)
            / (ImplicitGemm.PanelWidth * ProductGroupPanels);
        public long VImage => (long)(T + 2) * Rows * Tw * Cin;
        public long MImage => (long)T * Rows * Tw * Cout;
        public long VFloats => Xi * VImage;
        public long MFloats => Xi * MImage;
        public long[] VStrides { get; }
        public long[] MStrides { get; }
        public int[] VShape(int rows) => new[] { 1, T, rows, Tw, Cin };
        public int[] MShape(int rows) => new[] { 1, T, rows, Tw, Cout };
        public int Items => N * Blocks * Splits;

        /// <summary>Work item <paramref name="index"/>'s sample, tile rows [Row0, Row0 + Rows) and the panel groups
        /// [Group0, Group1) of its products' jobs (<see cref="ProductCut"/>).</summary>
        public (int Sample, int Row0, int Rows, int Group0, int Group1) Item(int index)
        {
            int split = index % Splits, block = index / Splits;
            int a0 = block % Blocks * Rows;
            return (block / Blocks, a0, Math.Min(Rows, Th - a0), split * GroupsPerSplit,
                Math.Min(ProductGroups, (split + 1) * GroupsPerSplit));
        }

        /// <summary>A product job's cut with this geometry's panel groups.</summary>
        public ImplicitGemm.Partition ProductCut(ImplicitGemm.Partition cut) =>
            cut with { GroupPanels = ProductGroupPanels };

        /// <summary>Output channels [first, end) of panel groups [g0, g1).</summary>
        public (int First, int End) Channels(int g0, int g1) =>
            (g0 * ProductGroupPanels * ImplicitGemm.PanelWidth,
            Math.Min(Cout, g1 * ProductGroupPanels * ImplicitGemm.PanelWidth));
    }

    /// <summary>One (sample, tile-row block): input transform, 16 products, output transform, on one thread.</summary>
    private sealed class WinogradWork(Conv3dWinogradCpu k) : IParallelWork
    {
        private CpuContext? _ctx;
        private Tensor? _x, _y, _r;
        private Geometry _g;

        public void Set(CpuContext? ctx, Tensor? x, Tensor? y, Tensor? r, Geometry g)
        {
            (_ctx, _x, _y, _r, _g) = (ctx, x, y, r, g);
            // Sized here, before the pool starts, so threads only ever touch their own slot.
            if (ctx != null && _views.Length < ctx.Threads)
                _views = new (NativeBuffer?, Geometry, int, Tensor[])[ctx.Threads];
            if (ctx != null && _zeroed.Length < ctx.Threads) _zeroed = new NativeBuffer?[ctx.Threads];
            Array.Clear(_zeroed);
        }

        // Per thread: the scratch whose zero frames it has cleared in this call. Items write only the
        // frames between, and no other kernel runs on the thread until the call ends, so they stay zero
        // for its next items (clearing them per item cost as much as the input transform of a frame).
        private NativeBuffer?[] _zeroed = [];

        // Per thread: the 16 (V_ξ, M_ξ) tensor views over its scratch, kept while buffer and geometry
        // stay the same, so work items allocate nothing.
        private (NativeBuffer? Buffer, Geometry Geometry, int Rows, Tensor[] Views)[] _views = [];

        private Tensor[] Views(int thread, NativeBuffer scratch, int rows)
        {
            var cached = _views[thread];
            if (cached.Buffer == scratch && cached.Geometry == _g && cached.Rows == rows) return cached.Views;
            var g = _g;
            long frame = (long)g.Rows * g.Tw * g.Cin;
            var views = new Tensor[2 * Xi];
            for (int xi = 0; xi < Xi; xi++)
            {
                views[2 * xi] =
                    new Tensor(scratch, xi * g.VImage + frame, g.VShape(rows), g.VStrides, new[] { 0, 1, 0, 0, 0 });
                views[2 * xi + 1] = new Tensor(scratch, g.VFloats + xi * g.MImage, g.MShape(rows), g.MStrides);
            }
            _views[thread] = (scratch, g, rows, views);
            return views;
        }

        public void Execute(int index, int thread)
        {
            var g = _g;
            var (sample, a0, rows, g0, g1) = g.Item(index);
            var scratch = _ctx!.ScratchBuffer(thread, g.VFloats + g.MFloats + ImplicitGemm.ScratchFloats);
            float* v = (float*)scratch.Pointer, m = v + g.VFloats, direct = m + g.MFloats;
            long frame = (long)g.Rows * g.Tw * g.Cin;
            if (_zeroed[thread] != scratch)
            {
                for (int xi = 0; xi < Xi; xi++)
                {
                    new Span<float>(v + xi * g.VImage, (int)frame).Clear();
                    new Span<float>(v + xi * g.VImage + (g.T + 1) * frame, (int)frame).Clear();
                }
                _zeroed[thread] = scratch;
            }
            for (int f = 0; f < g.T; f++) Input(sample, f, a0, rows, v + frame * (f + 1));
            var views = Views(thread, scratch, rows);
            for (int xi = 0; xi < Xi; xi++)
            {
                var product = k._products[xi];
                var job = product.MakeJob(views[2 * xi], views[2 * xi + 1], null, _ctx!.UseSimd, _ctx.UseAvx512);
                product.RunSerial(job with { Cut = g.ProductCut(job.Cut) }, direct, g0, g1);
            }
            var (c0, c1) = g.Channels(g0, g1);
            for (int f = 0; f < g.T; f++) Output(sample, f, a0, rows, m + (long)f * g.Rows * g.Tw * g.Cout, c0, c1);
        }

        /// <summary>Writes V_ξ for frame f, tile rows a0.., into <paramref name="dst"/> (ξ images g.VImage
        /// apart).</summary>
        private void Input(int s, int f, int a0, int rows, float* dst)
        {
            var x = _x!;
            var g = _g;
            int c = g.Cin;
            float* src = x.Data + s * x.Strides[0] + f * x.Strides[1];
            float** d = stackalloc float*[16];
            float* zero = (float*)k._zeros.Pointer;
            for (int a = 0; a < rows; a++)
                for (int b = 0; b < g.Tw; b++)
                {
                    // d[i][j] = x[2a−1+i, 2b−1+j], zero outside the frame.
                    for (int i = 0; i < 4; i++)
                    {
                        int hh = 2 * (a0 + a) - 1 + i;
                        for (int j = 0; j < 4; j++)
                        {
                            int ww = 2 * b - 1 + j;
                            d[i * 4 + j] = hh >= 0 && hh < g.H && ww >= 0 && ww < g.W
                                ? src + hh * x.Strides[2] + ww * x.Strides[3] : zero;
                        }
                    }
                    float* o = dst + ((long)a * g.Tw + b) * c;
                    int ch = 0;
                    if (Vector256.IsHardwareAccelerated)
                        for (; ch <= c - 8; ch += 8) InputTile8(d, ch, o + ch, g.VImage);
                    for (; ch < c; ch++) InputTile1(d, ch, o + ch, g.VImage);
                }
        }

        /// <summary>V = Bᵀ d B for 8 channels: rows of Bᵀ d are formed on the fly from L1-resident loads, no
        /// temporaries in memory.</summary>
        private static void InputTile8(float** d, int ch, float* dst, long stride)
        {
            for (int p = 0; p < 4; p++)
            {
                // Row p of Bᵀ d: (d0−d2, d1+d2, d2−d1, d1−d3)[p] for each of the 4 columns.
                int ra = p == 0 ? 0 : p == 3 ? 1 : p == 1 ? 1 : 2, rb = p == 0 ? 2 : p == 3 ? 3 : p == 1 ? 2 : 1;
                bool add = p == 1;
                Vector256<float> t0, t1, t2, t3;
                if (add)
                {
                    t0 = Vector256.Load(d[ra * 4] + ch) + Vector256.Load(d[rb * 4] + ch);
                    t1 = Vector256.Load(d[ra * 4 + 1] + ch) + Vector256.Load(d[rb * 4 + 1] + ch);
                    t2 = Vector256.Load(d[ra * 4 + 2] + ch) + Vector256.Load(d[rb * 4 + 2] + ch);
                    t3 = Vector256.Load(d[ra * 4 + 3] + ch) + Vector256.Load(d[rb * 4 + 3] + ch);
                }
                else
                {
                    t0 = Vector256.Load(d[ra * 4] + ch) - Vector256.Load(d[rb * 4] + ch);
                    t1 = Vector256.Load(d[ra * 4 + 1] + ch) - Vector256.Load(d[rb * 4 + 1] + ch);
                    t2 = Vector256.Load(d[ra * 4 + 2] + ch) - Vector256.Load(d[rb * 4 + 2] + ch);
                    t3 = Vector256.Load(d[ra * 4 + 3] + ch) - Vector256.Load(d[rb * 4 + 3] + ch);
                }
                float* o = dst + p * 4 * stride;
                (t0 - t2).Store(o);
                (t1 + t2).Store(o + stride);
                (t2 - t1).Store(o + 2 * stride);
                (t1 - t3).Store(o + 3 * stride);
            }
        }

        private static void InputTile1(float** d, int ch, float* dst, long stride)
        {
            Span<float> t = stackalloc float[16];
            for (int j = 0; j < 4; j++)
            {
                float d0 = d[j][ch], d1 = d[4 + j][ch], d2 = d[8 + j][ch], d3 = d[12 + j][ch];
                t[j] = d0 - d2; t[4 + j] = d1 + d2; t[8 + j] = d2 - d1; t[12 + j] = d1 - d3;
            }
            for (int i = 0; i < 4; i++)
            {
                float r0 = t[i * 4], r1 = t[i * 4 + 1], r2 = t[i * 4 + 2], r3 = t[i * 4 + 3];
                dst[(i * 4 + 0) * stride] = r0 - r2;
                dst[(i * 4 + 1) * stride] = r1 + r2;
                dst[(i * 4 + 2) * stride] = r2 - r1;
                dst[(i * 4 + 3) * stride] = r1 - r3;
            }
        }

        /// <summary>Inverse transform of frame f, tile rows a0.., channels [c0, c1), from <paramref name="src"/> (ξ
        /// images g.MImage apart), plus bias, residual, ReLU.</summary>
        private void Output(int s, int f, int a0, int rows, float* src, int c0, int c1)
        {
            var y = _y!; var r = _r;
            var g = _g;
            int c = k._op.Cout;
            long ms = g.MImage;
            bool relu = k._op.Relu;
            float* bias = (float*)k._bias.Pointer;
            long yH = y.Strides[2], yW = y.Strides[3], rH = r?.Strides[2] ?? 0, rW = r?.Strides[3] ?? 0;
            float* yFrame = y.Data + s * y.Strides[0] + f * y.Strides[1];
            float* rFrame = r == null ? null : r.Data + s * r.Strides[0] + f * r.Strides[1];
            for (int a = 0; a < rows; a++)
                for (int b = 0; b < g.Tw; b++)
                {
                    int hh = 2 * (a0 + a), ww = 2 * b;
                    // The last tile row/column of an odd-sized frame has only one valid output row/column.
                    bool h1 = hh + 1 < g.H, w1 = ww + 1 < g.W;
                    float* y00 = yFrame + hh * yH + ww * yW;
                    float* r00 = rFrame == null ? null : rFrame + hh * rH + ww * rW;
                    float* m = src + ((long)a * g.Tw + b) * c;
                    int ch = c0;
                    if (Vector256.IsHardwareAccelerated)
                        for (; ch <= c1 - 8; ch += 8)
                        {
                            // Aᵀ m A: each row i of m collapses to (m0+m1+m2, m1−m2−m3), then rows combine alike.
                            float* mc = m + ch;
                            var q00 = Vector256.Load(mc) + Vector256.Load(mc + ms) + Vector256.Load(mc + 2 * ms);
                            var q01 = Vector256.Load(mc + ms) - Vector256.Load(mc + 2 * ms)
                                - Vector256.Load(mc + 3 * ms);
                            var q10 = Vector256.Load(mc + 4 * ms) + Vector256.Load(mc + 5 * ms)
                                + Vector256.Load(mc + 6 * ms);
                            var q11 = Vector256.Load(mc + 5 * ms) - Vector256.Load(mc + 6 * ms)
                                - Vector256.Load(mc + 7 * ms);
                            var q20 = Vector256.Load(mc + 8 * ms) + Vector256.Load(mc + 9 * ms)
                                + Vector256.Load(mc + 10 * ms);
                            var q21 = Vector256.Load(mc + 9 * ms) - Vector256.Load(mc + 10 * ms)
                                - Vector256.Load(mc + 11 * ms);
                            var q30 = Vector256.Load(mc + 12 * ms) + Vector256.Load(mc + 13 * ms)
                                + Vector256.Load(mc + 14 * ms);
                            var q31 = Vector256.Load(mc + 13 * ms) - Vector256.Load(mc + 14 * ms)
                                - Vector256.Load(mc + 15 * ms);
                            var bv = Vector256.Load(bias + ch);
                            Emit(q00 + q10 + q20 + bv, y00 + ch, r00 == null ? null : r00 + ch, relu);
                            if (w1) Emit(q01 + q11 + q21 + bv, y00 + yW + ch, r00 == null ? null : r00 + rW + ch, relu);
                            if (h1) Emit(q10 - q20 - q30 + bv, y00 + yH + ch, r00 == null ? null : r00 + rH + ch, relu);
                            if (h1 && w1)
                                Emit(q11 - q21 - q31 + bv, y00 + yH + yW + ch, r00 == null ? null : r00 + rH + rW + ch,
                                    relu);
                        }
                    for (; ch < c1; ch++)
                    {
                        float* mc = m + ch;
                        float q00 = mc[0] + mc[ms] + mc[2 * ms], q01 = mc[ms] - mc[2 * ms] - mc[3 * ms];
                        float q10 = mc[4 * ms] + mc[5 * ms] + mc[6 * ms], q11 = mc[5 * ms] - mc[6 * ms] - mc[7 * ms];
                        float q20 = mc[8 * ms] + mc[9 * ms] + mc[10 * ms], q21 = mc[9 * ms] - mc[10 * ms] - mc[11 * ms];
                        float q30 = mc[12 * ms] + mc[13 * ms] + mc[14 * ms],
                            q31 = mc[13 * ms] - mc[14 * ms] - mc[15 * ms];
                        EmitScalar(q00 + q10 + q20 + bias[ch], y00 + ch, r00 == null ? null : r00 + ch, relu);
                        if (w1)
                            EmitScalar(q01 + q11 + q21 + bias[ch], y00 + yW + ch, r00 == null ? null : r00 + rW + ch,
                                relu);
                        if (h1)
                            EmitScalar(q10 - q20 - q30 + bias[ch], y00 + yH + ch, r00 == null ? null : r00 + rH + ch,
                                relu);
                        if (h1 && w1)
                            EmitScalar(q11 - q21 - q31 + bias[ch], y00 + yH + yW + ch,
                                r00 == null ? null : r00 + rH + rW + ch, relu);
                    }
                }
        }

        private static void Emit(Vector256<float> v, float* y, float* residual, bool relu)
        {
            if (residual != null) v += Vector256.Load(residual);
            if (relu) v = Vector256.Max(v, Vector256<float>.Zero);
            v.Store(y);
        }

        private static void EmitScalar(float v, float* y, float* residual, bool relu)
        {
            if (residual != null) v += *residual;
            *y = relu ? MathF.Max(v, 0f) : v;
        }
    }

    /// <summary>The (3,1,1) convolution each of the 16 products is: over t and channels, t-padding from the zero
    /// frames around its transformed images.</summary>
    private static ConvGeometry ProductGeometry(Conv3dOp op) =>
        new(op.Cin, op.Cout, (3, 1, 1), (1, 1, 1), (1, 0, 0), false);

    /// <summary>A work item as <see cref="WorkItems"/> lists it: a sample's tile rows [Row0, Row0 + Rows) (2 output
    /// rows each) for output channels [Channel0, Channel1), the multiply-adds of its 16 products, and the transforms
    /// of one channel of one tile in one frame it does: of every input channel, and of its output channels; and the
    /// transformed weight floats its products stream.</summary>
    public readonly record struct WorkItem(int Sample, int Row0, int Rows, int Channel0, int Channel1, long Macs,
        long InputTransforms, long OutputTransforms, long WeightFloats)
    {
        /// <summary>Its multiply-adds and transforms, in multiply-adds (<see cref="InputTransformCost"/>,
        /// <see cref="OutputTransformCost"/>).</summary>
        public long Cost => Macs + InputTransforms * InputTransformCost + OutputTransforms * OutputTransformCost;
    }

    /// <summary>
    /// The work items <see cref="Run"/> hands the pool for input shape <paramref name="x"/> ([N, T, H, W, Cin]) on
    /// <paramref name="threads"/> threads, in index order (docs/performance.md, "Thread scaling"). An item's cost is
    /// what its 16 products execute, each one <see cref="ImplicitGemm"/> job run whole on the item's thread, as
    /// <see cref="ImplicitGemm.WorkItems(ConvGeometry, int[], int[], int)"/> counts it, and its input and output
    /// transforms.
    /// </summary>
    public static WorkItem[] WorkItems(Conv3dOp op, int[] x, int threads)
    {
        if (!Applies(op)) throw new ArgumentException("Winograd conv3d needs k=3x3x3, s=1, p=1");
        var g = new Geometry(x, op.Cin, op.Cout, threads);
        var product = ProductGeometry(op);
        var items = new WorkItem[g.Items];
        for (int i = 0; i < items.Length; i++)
        {
            var (sample, a0, rows, g0, g1) = g.Item(i);
            // The products' jobs as Execute cuts them, and of those the items of its panel groups.
            var cut = g.ProductCut(ImplicitGemm.Cut(product, g.MShape(rows), 1));
            var own = ImplicitGemm.WorkItems(product, g.VShape(rows), g.MShape(rows), cut)
                .Where((_, j) => j % cut.PanelGroups >= g0 && j % cut.PanelGroups < g1).ToList();
            var (c0, c1) = g.Channels(g0, g1);
            long tiles = (long)g.T * rows * g.Tw;
            items[i] = new WorkItem(sample, a0, rows, c0, c1, Xi * own.Sum(w => w.Macs), tiles * op.Cin,
                tiles * (c1 - c0), Xi * own.Sum(w => w.WeightFloats));
        }
        return items;
    }

    public void Dispose()
    {
        foreach (var p in _products) p.Dispose();
        _bias.Dispose();
        _zeros.Dispose();
    }
}
