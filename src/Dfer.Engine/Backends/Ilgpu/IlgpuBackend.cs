using System.Diagnostics;
using Dfer.Devices.Ilgpu;
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
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Backends.Ilgpu;

/// <summary>
/// The ILGPU backend: the same C# kernels on ILGPU's CPU accelerator (<c>ilgpu-cpu</c>, every
/// machine) or its CUDA accelerator (<c>ilgpu-cuda</c>). Weights go to the device once per
/// compiled graph; activations stay on the device for the whole forward pass.
/// </summary>
public sealed class IlgpuBackend : IBackend, IOpRunner
{
    private readonly IlgpuDevice _device;
    private readonly Func<Op, IIlgpuKernel?> _resolve;
    private readonly Func<OpKind, bool> _supports;
    private readonly string? _description;

    /// <summary>Opens <paramref name="target"/>; <paramref name="variants"/> pins kernel variants (tests), by default the environment's.</summary>
    public IlgpuBackend(IlgpuTarget target, IlgpuVariants? variants = null)
    {
        _device = IlgpuDevice.Open(target, variants);
        Name = target == IlgpuTarget.Cpu ? "ilgpu-cpu" : "ilgpu-cuda";
        _resolve = op => Resolve(_device, op);
        _supports = SupportsKind;
    }

    /// <summary>
    /// The ILGPU executor over <paramref name="device"/> with another backend's kernel choice: the
    /// native CUDA backend puts its own kernels on ILGPU's CUDA context and keeps ILGPU's for the
    /// rest, so buffers, streams and the buffer plan are shared. The backend owns the device.
    /// </summary>
    internal IlgpuBackend(IlgpuDevice device, string name, string description, Func<Op, IIlgpuKernel?> resolve, Func<OpKind, bool> supports)
    {
        _device = device;
        Name = name;
        _description = description;
        _resolve = resolve;
        _supports = supports;
    }

    public string Name { get; }
    public string Device => _description ?? _device.Description;

    /// <summary>The ILGPU kernel for an op; every kind is handled (no discard arm, by design).</summary>
    public static IIlgpuKernel? Resolve(IlgpuDevice device, Op op) => op.Kind switch
    {
        OpKind.Permute => new PermuteIlgpu((PermuteOp)op),
        OpKind.Reshape => new ReshapeIlgpu(),
        OpKind.Conv3d => new Conv3dIlgpu(device, (Conv3dOp)op),
        OpKind.AvgPool3d => new AvgPool3dIlgpu(),
        OpKind.Linear => new LinearIlgpu(device, (LinearOp)op),
        OpKind.Lstm => new LstmIlgpu(device, (LstmOp)op),
        OpKind.Attention => new AttentionIlgpu((AttentionOp)op),
        OpKind.Dmin => new DminIlgpu(device, (DminOp)op),
        OpKind.Gate => new GateIlgpu(),
        OpKind.Conv1d => new Conv1dIlgpu(device, (Conv1dOp)op),
        OpKind.Softmax => new SoftmaxIlgpu(),
        OpKind.LayerNorm => new LayerNormIlgpu(device, (LayerNormOp)op),
        OpKind.Gelu => new GeluIlgpu(),
        OpKind.MaxPool3d => new MaxPool3dIlgpu((MaxPool3dOp)op),
        OpKind.DepthwiseConv3d => new DepthwiseConv3dIlgpu(device, (DepthwiseConv3dOp)op),
        OpKind.Conv2d => new Conv2dIlgpu(device, (Conv2dOp)op),
        OpKind.FrameSample => new FrameSampleIlgpu((FrameSampleOp)op),
        OpKind.RelPosAttention => new RelPosAttentionIlgpu(device, (RelPosAttentionOp)op),
        OpKind.Lifting => new LiftingIlgpu(device, (LiftingOp)op),
        OpKind.Add => new AddIlgpu(),
        OpKind.Slice => new SliceIlgpu((SliceOp)op),
        OpKind.ClassToken => new ClassTokenIlgpu(device, (ClassTokenOp)op),
        OpKind.AdaptiveSplit => new AdaptiveSplitIlgpu(device, (AdaptiveSplitOp)op),
        OpKind.TokenPool => new TokenPoolIlgpu(device, (TokenPoolOp)op),
        OpKind.TokenMaxPool => new TokenMaxPoolIlgpu((TokenMaxPoolOp)op),
        OpKind.SepConv2d => new SepConv2dIlgpu(device, (SepConv2dOp)op),
        OpKind.MaxPool2d => new MaxPool2dIlgpu((MaxPool2dOp)op),
        OpKind.AddAct => new AddActIlgpu((AddActOp)op),
        OpKind.BoxDecode => new BoxDecodeIlgpu(device, (BoxDecodeOp)op),
        OpKind.Nms => new NmsIlgpu((NmsOp)op),
        OpKind.AttentionPool => new AttentionPoolIlgpu(device, (AttentionPoolOp)op),
    };

    public bool Supports(OpKind kind) => _supports(kind);

    /// <summary>Whether the ILGPU backend has a kernel for <paramref name="kind"/> (all of them).</summary>
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

    public GuardedOutput RunGuarded(Op op, IReadOnlyList<float[]> inputs, IReadOnlyList<int[]> shapes, int guard, float sentinel)
    {
        int[] outShape = op.OutputShape(shapes);
        long n = Tensors.Tensor.ElementCountOf(outShape);
        using var kernel = _resolve(op) ?? throw new NotSupportedException($"{op.Kind.OpName()} is not supported on {Name}");
        var buffers = inputs.Select(a => _device.Upload(a)).ToList();
        try
        {
            var padded = new float[n + 2 * guard];
            Array.Fill(padded, sentinel);
            using var output = _device.Upload(padded);
            var views = buffers.Select((b, i) => b.View.SubView(0, inputs[i].Length)).Select(v => (ArrayView<float>)v).ToArray();
            kernel.Run(_device, views, shapes, output.View.SubView(guard, n), outShape);
            _device.Synchronize();
            return GuardedOutput.FromPadded(output.GetAsArray1D(), guard, sentinel);
        }
        finally
        {
            foreach (var b in buffers) b.Dispose();
        }
    }

    public IExecutable Compile(Graph graph) => new IlgpuExecutable(graph, _device, node => _resolve(node.Op));

    public void Dispose() => _device.Dispose();

    /// <summary>
    /// A graph on the device: kernels (with their weights) made once; per input shape a buffer plan
    /// where a value's buffer returns to a pool after its last reader, and a reshape shares its
    /// input's buffer.
    /// </summary>
    private sealed class IlgpuExecutable : IExecutable
    {
        private readonly Graph _graph;
        private readonly IlgpuDevice _device;
        private readonly IIlgpuKernel[] _kernels;
        private Plan? _plan;

        public IlgpuExecutable(Graph graph, IlgpuDevice device, Func<Node, IIlgpuKernel?> resolve)
        {
            _graph = graph;
            _device = device;
            var kernels = new List<IIlgpuKernel>();
            try
            {
                foreach (var node in graph.Nodes)
                    kernels.Add(resolve(node) ?? throw new NotSupportedException($"{node.Name}: {node.Op.Kind.OpName()} has no kernel on this backend"));
            }
            catch
            {
                foreach (var k in kernels) k.Dispose();
                throw;
            }
            _kernels = kernels.ToArray();
        }

        public NodeTimer? Timer { get; set; }

        public IReadOnlyDictionary<string, float[]> Run(ReadOnlySpan<float> input, int[] shape)
        {
            if (_plan is null || !_plan.InputShape.SequenceEqual(shape))
            {
                _plan?.Dispose();
                _plan = new Plan(_graph, _device, shape);
            }
            var plan = _plan;
            plan.View(Graph.Input).CopyFromCPU(input.ToArray());
            var nodes = _graph.Nodes;
            var views = new ArrayView<float>[4];
            long start = Stopwatch.GetTimestamp();
            for (int i = 0; i < nodes.Count; i++)
            {
                var node = nodes[i];
                var inShapes = new int[node.Inputs.Length][];
                for (int j = 0; j < node.Inputs.Length; j++)
                {
                    views[j] = plan.View(node.Inputs[j]);
                    inShapes[j] = plan.Shapes[node.Inputs[j]];
                }
                if (node.Op.Kind != OpKind.Reshape)
                    _kernels[i].Run(_device, views.AsSpan(0, node.Inputs.Length), inShapes, plan.View(node.Output), plan.Shapes[node.Output]);
                if (Timer is not null)
                {
                    _device.Synchronize();
                    long now = Stopwatch.GetTimestamp();
                    Timer(node, inShapes, (now - start) * 1000.0 / Stopwatch.Frequency);
                    start = Stopwatch.GetTimestamp();
                }
            }
            _device.Synchronize();
            return _graph.Outputs.ToDictionary(kv => kv.Key, kv => Download(plan.View(kv.Value)));
        }

        private static float[] Download(ArrayView<float> view)
        {
            var host = new float[view.Length];
            ((ArrayView1D<float, Stride1D.Dense>)view).CopyToCPU(host);
            return host;
        }

        public void Dispose()
        {
            _plan?.Dispose();
            foreach (var k in _kernels) k.Dispose();
        }
    }

    /// <summary>Every value of the graph for one input shape, at its <see cref="BufferPlan"/> offset in one device arena (fp32 values).</summary>
    private sealed class Plan : IDisposable
    {
        private readonly MemoryBuffer1D<float, Stride1D.Dense> _arena;
        private readonly BufferPlan _layout;

        public Plan(Graph graph, IlgpuDevice device, int[] inputShape)
        {
            InputShape = inputShape.ToArray();
            Shapes = graph.InferShapes(inputShape);
            _layout = new BufferPlan(Shapes.Select(s => 4 * Tensors.Tensor.ElementCountOf(s)).ToArray(), Graph.Input,
                BufferPlan.NodeSteps(graph), graph.Outputs.Values);
            _arena = device.Allocate(_layout.TotalBytes / 4);
        }

        public int[] InputShape { get; }
        public int[][] Shapes { get; }

        public ArrayView<float> View(int value) =>
            _arena.View.SubView(_layout.Offset(value) / 4, Tensors.Tensor.ElementCountOf(Shapes[value]));

        public void Dispose() => _arena.Dispose();
    }
}
