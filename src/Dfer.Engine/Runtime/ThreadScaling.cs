using Dfer.Devices.Cpu;
using Dfer.Ops;
using Dfer.Ops.AttentionPool;
using Dfer.Ops.AvgPool3d;
using Dfer.Ops.Conv3d;
using Dfer.Ops.Linear;
using Dfer.Ops.Lstm;
using Dfer.Ops.Permute;
using Dfer.Ops.Reshape;
using Dfer.Ops.Softmax;
using Dfer.Primitives.Cpu;
using Dfer.Tensors;

namespace Dfer.Runtime;

/// <summary>A stretch of one op's CPU kernel: a dispatch to the pool (<see cref="CpuThreadPool.Run"/>) of items with
/// these costs, in index order, or work the calling thread does alone outside the pool (<paramref name="Serial"/>, one
/// cost). Costs are in <see cref="ThreadScaling"/>'s units; <paramref name="WeightFloats"/> counts the weights its
/// items stream all together (each item reads its own; 0 where not counted).</summary>
public sealed record WorkPhase(string What, long[] Costs, bool Serial, long WeightFloats = 0)
{
    public long Total => Costs.Sum();

    /// <summary>Its length on <paramref name="threads"/> threads: the whole cost when serial, else the makespan of the
    /// pool's claiming (<see cref="ThreadScaling.Makespan"/>).</summary>
    public long Makespan(int threads) => Serial ? Total : ThreadScaling.Makespan(Costs, threads);
}

/// <summary>One graph node's CPU kernel as the model sees it: which kernel, and its phases in the order they
/// run.</summary>
public sealed record NodeWork(string Node, string Kernel, IReadOnlyList<WorkPhase> Phases)
{
    public long Total => Phases.Sum(p => p.Total);
    public long Makespan(int threads) => Phases.Sum(p => p.Makespan(threads));

    /// <summary>Ideal time over modelled time: Total / (threads × Makespan); 1 for a node with no work.</summary>
    public double Efficiency(int threads) => Total == 0 ? 1 : Total / ((double)threads * Makespan(threads));
}

/// <summary>
/// A model of how the CPU backend's work spreads over threads, for thread counts this machine does not have
/// (docs/performance.md, "Thread scaling"). Each op's kernel is described by its phases: the items it hands
/// <see cref="CpuThreadPool"/>, taken from the kernels' own partitioning code
/// (<see cref="ImplicitGemm.WorkItems(ConvGeometry, int[], int[], int)"/>, <see cref="Conv3dWinogradCpu.WorkItems"/>,
/// <see cref="PermuteCpu.Split"/>) where they have it, and the work it does on the calling thread alone.
/// <see cref="Makespan"/> replays the pool's dynamic claiming with times in proportion to cost.
/// <para>
/// Cost unit: one multiply-add of a vector FMA lane, what the GEMM kernels execute. Work that is not multiply-adds is
/// converted at estimated rates of an AVX2 core, which retires two 8-lane FMAs per cycle (<see cref="Cycle"/> = 16
/// units): a scalar operation one cycle, a scalar exponential or tanh 20 cycles, a float moved by a vector copy an
/// eighth of a cycle; Winograd's transforms as <see cref="Conv3dWinogradCpu.WorkItem.Cost"/> weighs them. Those rates
/// are estimates; they weigh the small ops and the transforms against the multiply-adds.
/// </para>
/// Not modelled: memory bandwidth (the LSTM's and the head's products read their weights once per row block, bound by
/// bandwidth, not FMAs), the pool's wake-up per dispatch, and caches. It assumes the SIMD paths (AVX2 or AVX-512), the
/// conv3d variant table's own choices (no pins) and reshapes the plan aliases.
/// </summary>
public static class ThreadScaling
{
    /// <summary>Units in one core cycle: two 8-lane FMAs.</summary>
    public const long Cycle = 16;
    /// <summary>A scalar operation (add, multiply, compare, load-store of one float).</summary>
    public const long ScalarOp = Cycle;
    /// <summary>A scalar exponential or hyperbolic tangent (MathF.Exp, MathF.Tanh).</summary>
    public const long Transcendental = 20 * Cycle;
    /// <summary>One float of a vectorised copy.</summary>
    public const long CopiedFloat = Cycle / 8;

    /// <summary>
    /// The time the pool takes for items of these costs on <paramref name="threads"/> threads: each thread, the caller
    /// included, claims the next item index as soon as it is free (<see cref="CpuThreadPool"/>), and an item takes its
    /// cost. Greedy list scheduling in index order; which of several free threads takes an item does not change the
    /// result.
    /// </summary>
    public static long Makespan(ReadOnlySpan<long> costs, int threads)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "at least 1 thread");
        int busy = Math.Min(threads, costs.Length);
        long end = 0;
        if (busy <= 1)
        {
            foreach (long c in costs) end += c;
            return end;
        }
        var free = new PriorityQueue<long, long>(busy);
        for (int i = 0; i < costs.Length; i++)
        {
            long start = i < busy ? 0 : free.Dequeue();
            long done = start + costs[i];
            free.Enqueue(done, done);
            end = Math.Max(end, done);
        }
        return end;
    }

    /// <summary>Every node of <paramref name="graph"/> for an input of <paramref name="inputShape"/> on
    /// <paramref name="threads"/> threads, in the order the CPU backend runs them.</summary>
    public static IReadOnlyList<NodeWork> Plan(Graph graph, int[] inputShape, int threads)
    {
        var shapes = graph.InferShapes(inputShape);
        return graph.Nodes.Select(n => Node(n.Name, n.Op, n.Inputs.Select(v => shapes[v]).ToArray(), threads))
            .ToList();
    }

    /// <summary>One op's phases on inputs of these shapes; an op whose kernel the model does not describe is refused
    /// in one line.</summary>
    public static NodeWork Node(string name, Op op, IReadOnlyList<int[]> inputs, int threads)
    {
        int[] x = inputs[0];
        switch (op)
        {
            case Conv3dOp c when Conv3dCpuVariants.Choose(c, x) == CpuConv3dVariant.Winograd:
                {
                    var items = Conv3dWinogradCpu.WorkItems(c, x, threads);
                    return new(name, "winograd", [new("(sample, tile rows, channels)",
                        items.Select(i => i.Cost).ToArray(), false, items.Sum(i => i.WeightFloats))]);
                }
            case Conv3dOp c:
                return new(name, "direct", [Gemm("(panel group, tile chunk)", Conv3dCpu.Geometry(c), x,
                    c.ConvOutputShape(x), threads)]);
            case LinearOp l:
                return new(name, "dense rows", [DenseRows("rows", (int)(Tensor.ElementCountOf(x) / l.In), l.In, l.Out,
                    threads)]);
            case PermuteOp p:
                {
                    // PermuteCpu: an item per index of the leading permuted axes, a scalar strided copy.
                    var view = p.ResolvedView(x);
                    int items = PermuteCpu.Split(p.Axes.Select(a => view[a]).ToArray(), threads).Items;
                    long each = Tensor.ElementCountOf(x) / items * ScalarOp;
                    return new(name, "permute", [Pool("outer indices", Enumerable.Repeat(each, items))]);
                }
            case AvgPool3dOp:
                // AvgPool3dCpu: one item per sample, scalar double sums.
                return new(name, "avgpool3d", [Pool("sample",
                    Enumerable.Repeat((long)x[1] * x[2] * x[3] * x[4] * ScalarOp, x[0]))]);
            case ReshapeOp when op.Kind.IsAlias:
                return new(name, "alias", []);
            case SoftmaxOp:
                // SoftmaxCpu: rows one after another on the calling thread (an exponential per value at most).
                return new(name, "softmax",
                    [Serial("rows", Tensor.ElementCountOf(x) * (Transcendental + 3 * ScalarOp))]);
            case LstmOp l:
                return new(name, "lstm", Lstm(l, x));
            case AttentionPoolOp a:
                return new(name, "attentionpool", Head(a, x, threads));
            default:
                throw new ArgumentException(
                    $"{op.Kind.Name}: the thread-scaling model does not describe its CPU kernel");
        }
    }

    private static WorkPhase Pool(string what, IEnumerable<long> costs) => new(what, costs.ToArray(), false);

    private static WorkPhase Serial(string what, long cost) => new(what, [cost], true);

    private static WorkPhase Gemm(string what, ConvGeometry g, int[] x, int[] y, int threads)
    {
        var items = ImplicitGemm.WorkItems(g, x, y, threads);
        return new(what, items.Select(i => i.Macs).ToArray(), false, items.Sum(i => i.WeightFloats));
    }

    /// <summary><see cref="Primitives.Cpu.DenseRows"/> on a SIMD path: <see cref="RowGemm"/>, the implicit GEMM as a
    /// 1×1×1 convolution over [rows, 1, 1, 1, In], whatever the row count.</summary>
    private static WorkPhase DenseRows(string what, int rows, int inFeatures, int outFeatures, int threads) =>
        Gemm(what + " (tiled GEMM)", new ConvGeometry(inFeatures, outFeatures, (1, 1, 1), (1, 1, 1), (0, 0, 0), false),
            [rows, 1, 1, 1, inFeatures], [rows, 1, 1, 1, outFeatures], threads);

    /// <summary><see cref="Primitives.Cpu.GemmNt"/>: an item per <see cref="Primitives.Cpu.GemmNt.ColumnsPerItem"/>
    /// output columns, each column a dot product of length k for every block of 4 rows (a short block computes
    /// 4).</summary>
    private static WorkPhase GemmNt(string what, int m, int k, int n)
    {
        const int cols = Primitives.Cpu.GemmNt.ColumnsPerItem;
        long rows = (m + 3) / 4 * 4L;
        int items = (n + cols - 1) / cols;
        return Pool(what, Enumerable.Range(0, items).Select(i => Math.Min(cols, n - i * cols) * rows * k));
    }

    /// <summary><see cref="LstmCpu"/>: per layer, each direction's input projection of all steps, then per step one
    /// dispatch for every direction: items of <see cref="LstmCpu.Units"/> hidden units, each its four gate rows
    /// h·W_hhᵀ (blocks of 4 batch rows) and their gates (3 sigmoids, 2 tanh per unit and batch row).</summary>
    private static List<WorkPhase> Lstm(LstmOp l, int[] x)
    {
        int b = x[0], len = x[1], hid = l.Hidden, inSize = x[2];
        long rows = (b + 3) / 4 * 4L;
        var phases = new List<WorkPhase>();
        for (int layer = 0; layer < l.Layers.Length; layer++)
        {
            for (int d = 0; d < l.Directions; d++)
                phases.Add(GemmNt($"layer {layer} {(d == 0 ? "forward" : "backward")}: input projection", b * len,
                    inSize, 4 * hid));
            var items = Enumerable.Range(0, l.Directions * ((hid + LstmCpu.Units - 1) / LstmCpu.Units))
                .Select(i => Math.Min(LstmCpu.Units, hid - i % ((hid + LstmCpu.Units - 1) / LstmCpu.Units)
                    * LstmCpu.Units))
                .Select(units => units * (4 * rows * hid + b * (5 * Transcendental + 12 * ScalarOp))).ToArray();
            for (int step = 0; step < len; step++)
                phases.Add(Pool($"layer {layer} step {step}: gates of every direction", items));
            inSize = hid * l.Directions;
        }
        return phases;
    }

    /// <summary><see cref="AttentionPoolCpu"/>: qkv rows, attention per (sample, head), then per sample on the calling
    /// thread DMIN's statistics, the gate and pwconv, then fc.</summary>
    private static List<WorkPhase> Head(AttentionPoolOp a, int[] x, int threads)
    {
        int b = x[0], n = a.Instances, d = a.Dim, hd = a.HeadDim;
        // Per query: n dot products of hd (vector), n exponentials, n scalar axpys of hd.
        long attention = (long)n * n * (hd + Transcendental + hd * ScalarOp);
        // Statistics (3 passes over [n, d]), a square root and division per channel, a sigmoid and 4 operations per
        // gated value, pwconv's n·k·d scalar multiply-adds.
        long perSample = (long)n * d * 3 * ScalarOp + d * (Transcendental + 4 * ScalarOp)
            + (long)n * d * (Transcendental + 4 * ScalarOp) + (long)n * a.ConvKernel * d * 2 * ScalarOp;
        return
        [
            DenseRows("qkv", b * n, d, 3 * d, threads),
            Pool("attention (sample, head)", Enumerable.Repeat(attention, b * a.Heads)),
            Serial("DMIN, gate, pwconv", b * perSample),
            DenseRows("fc", b, a.PooledLength, a.Classes, threads),
        ];
    }
}
