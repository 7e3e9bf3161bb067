using System.Diagnostics;
using Dfer.Devices.Cpu;
using Dfer.Ops;
using Dfer.Ops.AdaptiveSplit;
using Dfer.Ops.Add;
using Dfer.Ops.Attention;
using Dfer.Ops.AttentionPool;
using Dfer.Ops.AvgPool3d;
using Dfer.Ops.ClassToken;
using Dfer.Ops.Conv1d;
using Dfer.Ops.Conv2d;
using Dfer.Ops.Conv3d;
using Dfer.Ops.DepthwiseConv3d;
using Dfer.Ops.Dmin;
using Dfer.Ops.FrameSample;
using Dfer.Ops.Gate;
using Dfer.Ops.Gelu;
using Dfer.Ops.LayerNorm;
using Dfer.Ops.Lifting;
using Dfer.Ops.MaxPool3d;
using Dfer.Ops.Linear;
using Dfer.Ops.Lstm;
using Dfer.Ops.Permute;
using Dfer.Ops.RelPosAttention;
using Dfer.Ops.Reshape;
using Dfer.Ops.Slice;
using Dfer.Ops.Softmax;
using Dfer.Ops.TokenMaxPool;
using Dfer.Ops.TokenPool;
using Dfer.Ops.AddAct;
using Dfer.Ops.BoxDecode;
using Dfer.Ops.MaxPool2d;
using Dfer.Ops.Nms;
using Dfer.Ops.SepConv2d;
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
    public string Device => $"{Environment.ProcessorCount}-core CPU, {_ctx.Threads} threads, {CpuContext.Isa}";
    public int Threads => _ctx.Threads;

    /// <summary>The CPU kernel for an op; every kind is handled (no discard arm, by design).</summary>
    public static ICpuKernel? Resolve(Op op) => op.Kind switch
    {
        OpKind.Permute => new PermuteCpu((PermuteOp)op),
        OpKind.Reshape => new ReshapeCpu(),
        OpKind.Conv3d => Conv3dCpuVariants.Create((Conv3dOp)op),
        OpKind.AvgPool3d => new AvgPool3dCpu(),
        OpKind.Linear => new LinearCpu((LinearOp)op),
        OpKind.Lstm => new LstmCpu((LstmOp)op),
        OpKind.Attention => new AttentionCpu((AttentionOp)op),
        OpKind.Dmin => new DminCpu((DminOp)op),
        OpKind.Gate => new GateCpu(),
        OpKind.Conv1d => new Conv1dCpu((Conv1dOp)op),
        OpKind.Softmax => new SoftmaxCpu(),
        OpKind.LayerNorm => new LayerNormCpu((LayerNormOp)op),
        OpKind.Gelu => new GeluCpu(),
        OpKind.MaxPool3d => new MaxPool3dCpu((MaxPool3dOp)op),
        OpKind.DepthwiseConv3d => new DepthwiseConv3dCpu((DepthwiseConv3dOp)op),
        OpKind.Conv2d => new Conv2dCpu((Conv2dOp)op),
        OpKind.FrameSample => new FrameSampleCpu((FrameSampleOp)op),
        OpKind.RelPosAttention => new RelPosAttentionCpu((RelPosAttentionOp)op),
        OpKind.Lifting => new LiftingCpu((LiftingOp)op),
        OpKind.Add => new AddCpu(),
        OpKind.Slice => new SliceCpu((SliceOp)op),
        OpKind.ClassToken => new ClassTokenCpu((ClassTokenOp)op),
        OpKind.AdaptiveSplit => new AdaptiveSplitCpu((AdaptiveSplitOp)op),
        OpKind.TokenPool => new TokenPoolCpu((TokenPoolOp)op),
        OpKind.TokenMaxPool => new TokenMaxPoolCpu((TokenMaxPoolOp)op),
        OpKind.SepConv2d => new SepConv2dCpu((SepConv2dOp)op),
        OpKind.MaxPool2d => new MaxPool2dCpu((MaxPool2dOp)op),
        OpKind.AddAct => new AddActCpu((AddActOp)op),
        OpKind.BoxDecode => new BoxDecodeCpu((BoxDecodeOp)op),
        OpKind.Nms => new NmsCpu((NmsOp)op),
        OpKind.AttentionPool => new AttentionPoolCpu((AttentionPoolOp)op),
    };

    public bool Supports(OpKind kind) => SupportsKind(kind);

    /// <summary>Whether the CPU backend has a kernel for <paramref name="kind"/> (all of them).</summary>
    public static bool SupportsKind(OpKind kind) => kind switch
    {
        OpKind.Permute or OpKind.Reshape or OpKind.Conv3d or OpKind.AvgPool3d or OpKind.Linear or OpKind.Lstm
            or OpKind.Attention or OpKind.Dmin or OpKind.Gate or OpKind.Conv1d or OpKind.Softmax
            or OpKind.LayerNorm or OpKind.Gelu or OpKind.MaxPool3d or OpKind.DepthwiseConv3d or OpKind.Conv2d
            or OpKind.FrameSample or OpKind.RelPosAttention or OpKind.Lifting
            or OpKind.Add or OpKind.Slice or OpKind.ClassToken or OpKind.AdaptiveSplit
            or OpKind.TokenPool or OpKind.TokenMaxPool
            or OpKind.SepConv2d or OpKind.MaxPool2d or OpKind.AddAct or OpKind.BoxDecode or OpKind.Nms
            or OpKind.AttentionPool => true,
    };

    public unsafe GuardedOutput RunGuarded(Op op, IReadOnlyList<float[]> inputs, IReadOnlyList<int[]> shapes, int guard, float sentinel)
    {
        int[] outShape = op.OutputShape(shapes);
        long n = Tensor.ElementCountOf(outShape);
        using var buffer = new NativeBuffer((n + 2 * guard) * sizeof(float));
        var all = new Span<float>(buffer.Pointer, (int)(n + 2 * guard));
        all.Fill(sentinel);
        var output = new Tensor(buffer, guard, outShape, Tensor.ContiguousStrides(outShape));
        var ins = inputs.Select((a, i) => Tensor.FromArray(a, shapes[i])).ToArray();
        RunOp(op, ins, output);
        return GuardedOutput.FromPadded(all, guard, sentinel);
    }

    /// <summary>Runs one op on tensors directly (the op matrix and tests use this).</summary>
    public void RunOp(Op op, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var k = Resolve(op) ?? throw new NotSupportedException($"{op.Kind.OpName()} is not supported on cpu");
        try { k.Run(_ctx, inputs, output); }
        finally { (k as IDisposable)?.Dispose(); }
    }

    public IExecutable Compile(Graph graph) => new CpuExecutable(graph, _ctx);

    public void Dispose() => _ctx.Dispose();

    private sealed class CpuExecutable : IExecutable
    {
        private readonly Graph _graph;
        private readonly CpuContext _ctx;
        private readonly ICpuKernel[] _kernels;
        private CpuPlan? _plan;

        public CpuExecutable(Graph graph, CpuContext ctx)
        {
            _graph = graph;
            _ctx = ctx;
            _kernels = graph.Nodes.Select(n => Resolve(n.Op) ?? throw new NotSupportedException($"{n.Name}: {n.Op.Kind.OpName()} has no CPU kernel")).ToArray();
        }

        public NodeTimer? Timer { get; set; }

        public IReadOnlyDictionary<string, float[]> Run(ReadOnlySpan<float> input, int[] shape)
        {
            if (_plan == null || !_plan.InputShape.SequenceEqual(shape))
            {
                _plan?.Dispose();
                _plan = new CpuPlan(_graph, _kernels, shape);
            }
            var values = _plan.Values;
            values[Graph.Input].CopyFrom(input);
            var nodes = _graph.Nodes;
            var ins = new Tensor[4];
            long start = Timer != null ? Stopwatch.GetTimestamp() : 0;
            for (int i = 0; i < nodes.Count; i++)
            {
                var node = nodes[i];
                for (int j = 0; j < node.Inputs.Length; j++) ins[j] = values[node.Inputs[j]];
                _kernels[i].Run(_ctx, ins.AsSpan(0, node.Inputs.Length), values[node.Output]);
                if (Timer != null)
                {
                    long now = Stopwatch.GetTimestamp();
                    Timer(node, node.Inputs.Select(v => _plan.Shapes[v]).ToArray(), (now - start) * 1000.0 / Stopwatch.Frequency);
                    start = Stopwatch.GetTimestamp();
                }
            }
            return _graph.Outputs.ToDictionary(kv => kv.Key, kv => values[kv.Value].ToArray());
        }

        public void Dispose()
        {
            _plan?.Dispose();
            foreach (var k in _kernels) (k as IDisposable)?.Dispose();
        }
    }
}
