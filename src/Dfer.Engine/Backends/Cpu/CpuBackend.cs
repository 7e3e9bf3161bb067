using System.Diagnostics;
using Dfer.Devices.Cpu;
using Dfer.Ops;
using Dfer.Tensors;

namespace Dfer.Backends.Cpu;

/// <summary>The managed CPU backend: SIMD kernels, one worker per core.</summary>
public sealed class CpuBackend : IBackend, IOpRunner
{
    private readonly CpuContext _ctx;

    /// <param name="threads">Worker threads; 0: one per logical core.</param>
    /// <param name="variants">Kernel variant pins (tests, benchmarks); null: none, every table decides.</param>
    public CpuBackend(int threads = 0, CpuVariants? variants = null) { _ctx = new CpuContext(threads, variants); }

    public string Name => "cpu";
    public string Device =>
        $"{Environment.ProcessorCount}-core CPU, {_ctx.Threads} threads, {_ctx.Variants.Describe()}";

    /// <summary>The variant pins this backend's kernels run with (<see cref="CpuVariants.Default"/> when none were
    /// given).</summary>
    public CpuVariants Variants => _ctx.Variants;
    public int Threads => _ctx.Threads;

    /// <summary>The CPU kernel for an op, as its kind declares it (every kind has one).</summary>
    public static ICpuKernel Resolve(Op op) => op.Kind.Cpu(op);

    /// <summary>What <paramref name="kernel"/>, bound to <paramref name="op"/>, executes for
    /// <paramref name="inputShapes"/> on <paramref name="ctx"/>: its own count (<see cref="IExecutedFlops"/>), else
    /// the op's nominal one.</summary>
    public static long ExecutedFlops(ICpuKernel kernel, Op op, CpuContext ctx, IReadOnlyList<int[]> inputShapes) =>
        kernel is IExecutedFlops counted ? counted.ExecutedFlops(ctx, inputShapes) : op.Flops(inputShapes);

    public bool Supports(OpKind kind) => SupportsKind(kind);

    /// <summary>Whether the CPU backend has a kernel for <paramref name="kind"/>: every registered kind declares
    /// one.</summary>
    public static bool SupportsKind(OpKind kind) => OpRegistry.All.Contains(kind);

    public unsafe GuardedOutput RunGuarded(Op op, IReadOnlyList<float[]> inputs, IReadOnlyList<int[]> shapes, int guard,
        float sentinel)
    {
        int[] outShape = op.OutputShape(shapes);
        long n = Tensor.ElementCountOf(outShape);
        using var buffer = new NativeBuffer((n + 2 * guard) * sizeof(float));
        var all = new Span<float>(buffer.Pointer, (int)(n + 2 * guard));
        all.Fill(sentinel);
        var output = new Tensor(buffer, guard, outShape, Tensor.ContiguousStrides(outShape));
        var ins = inputs.Select((a, i) => Tensor.FromArray(a, shapes[i])).ToArray();
        try
        {
            RunOp(op, ins, output);
        }
        finally
        {
            foreach (Tensor t in ins) t.Storage.Dispose();
        }
        return GuardedOutput.FromPadded(all, guard, sentinel);
    }

    /// <summary>
    /// Runs one op on tensors directly (the op matrix and tests use this). The kernels work on raw pointers into the
    /// tensors' native buffers, which free themselves when finalized: the tensors are held until the kernel returns,
    /// so a caller's temporary input (<c>RunOp(op, [Tensor.FromArray(...)], y)</c>) is not collected and freed while
    /// the kernel still reads it.
    /// </summary>
    public void RunOp(Op op, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        Tensor[] held = inputs.ToArray();
        var k = Resolve(op);
        try { k.Run(_ctx, held, output); }
        finally { (k as IDisposable)?.Dispose(); }
        GC.KeepAlive(held);
        GC.KeepAlive(output);
    }

    public IExecutable Compile(Graph graph) => new CpuExecutable(graph, _ctx);

    public void Dispose() => _ctx.Dispose();

    private sealed class CpuExecutable : IExecutable
    {
        private readonly Graph _graph;
        private readonly CpuContext _ctx;
        private readonly ICpuKernel[] _kernels;
        private CpuPlan? _plan;
        private Tensor[]? _views;
        private int[][]? _viewShapes;

        public CpuExecutable(Graph graph, CpuContext ctx)
        {
            _graph = graph;
            _ctx = ctx;
            _kernels = graph.Nodes.Select(n => Resolve(n.Op)).ToArray();
        }

        public NodeTimer? Timer { get; set; }

        public long ExecutedFlops(Node node, int[][] inputShapes)
        {
            for (int i = 0; i < _kernels.Length; i++)
                if (ReferenceEquals(_graph.Nodes[i], node))
                    return CpuBackend.ExecutedFlops(_kernels[i], node.Op, _ctx, inputShapes);
            throw new ArgumentException($"node {node.Name} is not in this graph");
        }

        public IReadOnlyDictionary<string, float[]> Run(ReadOnlySpan<float> input, int[] shape)
        {
            var (values, shapes) = Prepare(shape);
            values[Graph.Input].CopyFrom(input);
            var nodes = _graph.Nodes;
            var ins = new Tensor[nodes.Count == 0 ? 0 : nodes.Max(n => n.Inputs.Length)];
            long start = Timer != null ? Stopwatch.GetTimestamp() : 0;
            for (int i = 0; i < nodes.Count; i++)
            {
                var node = nodes[i];
                for (int j = 0; j < node.Inputs.Length; j++) ins[j] = values[node.Inputs[j]];
                _kernels[i].Run(_ctx, ins.AsSpan(0, node.Inputs.Length), values[node.Output]);
                if (Timer != null)
                {
                    long now = Stopwatch.GetTimestamp();
                    Timer(node, node.Inputs.Select(v => shapes[v]).ToArray(),
                        (now - start) * 1000.0 / Stopwatch.Frequency);
                    start = Stopwatch.GetTimestamp();
                }
            }
            return _graph.Outputs.ToDictionary(kv => kv.Key, kv => values[kv.Value].ToArray());
        }

        /// <summary>
        /// The values for an input of <paramref name="shape"/>: the plan's own, or, for a smaller batch whose every
        /// value differs from the plan's only by a smaller first dimension, views of its first samples (a detector
        /// that alternates batches of 8 and 5 would otherwise plan and zero all its activations twice per video);
        /// else a new plan.
        /// </summary>
        private (Tensor[] Values, int[][] Shapes) Prepare(int[] shape)
        {
            if (_plan != null && _plan.InputShape.SequenceEqual(shape)) return (_plan.Values, _plan.Shapes);
            if (_plan != null && _views != null && _viewShapes![Graph.Input].SequenceEqual(shape))
                return (_views, _viewShapes);
            if (_plan != null && shape.Length == _plan.InputShape.Length && shape.Length > 0 && shape[0] >= 1
                && shape[0] < _plan.InputShape[0] && shape.AsSpan(1).SequenceEqual(_plan.InputShape.AsSpan(1))
                && FitsInPlan(_graph.InferShapes(shape)) is int[][] fitted)
            {
                _views = new Tensor[fitted.Length];
                for (int v = 0; v < fitted.Length; v++)
                {
                    Tensor full = _plan.Values[v];
                    _views[v] = new Tensor(full.Storage, full.Offset, fitted[v], full.Strides, full.Halo);
                }
                _viewShapes = fitted;
                return (_views, _viewShapes);
            }
            _plan?.Dispose();
            _views = null; _viewShapes = null;
            _plan = new CpuPlan(_graph, _kernels, shape);
            return (_plan.Values, _plan.Shapes);
        }

        /// <summary><paramref name="shapes"/> when every value keeps the plan's shape but for a first dimension no
        /// larger than the plan's, else null.</summary>
        private int[][]? FitsInPlan(int[][] shapes)
        {
            for (int v = 0; v < shapes.Length; v++)
            {
                int[] a = shapes[v], b = _plan!.Shapes[v];
                if (a.Length != b.Length || a.Length == 0 || a[0] > b[0] || !a.AsSpan(1).SequenceEqual(b.AsSpan(1)))
                    return null;
            }
            return shapes;
        }

        public void Dispose()
        {
            _plan?.Dispose();
            foreach (var k in _kernels) (k as IDisposable)?.Dispose();
        }
    }
}
