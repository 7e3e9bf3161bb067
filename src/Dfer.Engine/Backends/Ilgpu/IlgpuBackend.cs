using System.Diagnostics;
using Dfer.Devices.Ilgpu;
using Dfer.Ops;
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

    /// <summary>Opens <paramref name="target"/>; <paramref name="variants"/> pins kernel variants (tests), by default
    /// the environment's.</summary>
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
    internal IlgpuBackend(IlgpuDevice device, string name, string description, Func<Op, IIlgpuKernel?> resolve,
        Func<OpKind, bool> supports)
    {
        _device = device;
        Name = name;
        _description = description;
        _resolve = resolve;
        _supports = supports;
    }

    public string Name { get; }
    public string Device => _description ?? _device.Description;

    /// <summary>The ILGPU kernel for an op, as its kind declares it (every kind has one).</summary>
    public static IIlgpuKernel Resolve(IlgpuDevice device, Op op) => op.Kind.Ilgpu(device, op);

    public bool Supports(OpKind kind) => _supports(kind);

    /// <summary>Whether the ILGPU backend has a kernel for <paramref name="kind"/>: every registered kind declares
    /// one.</summary>
    public static bool SupportsKind(OpKind kind) => OpRegistry.All.Contains(kind);

    public GuardedOutput RunGuarded(Op op, IReadOnlyList<float[]> inputs, IReadOnlyList<int[]> shapes, int guard,
        float sentinel)
    {
        int[] outShape = op.OutputShape(shapes);
        long n = Tensors.Tensor.ElementCountOf(outShape);
        using var kernel = _resolve(op)
            ?? throw new NotSupportedException($"{op.Kind.Name} is not supported on {Name}");
        var buffers = inputs.Select(a => _device.Upload(a)).ToList();
        try
        {
            var padded = new float[n + 2 * guard];
            Array.Fill(padded, sentinel);
            using var output = _device.Upload(padded);
            var views = buffers.Select((b, i) => b.View.SubView(0, inputs[i].Length)).Select(v => (ArrayView<float>)v)
                .ToArray();
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
                    kernels.Add(resolve(node)
                        ?? throw new NotSupportedException(
                        $"{node.Name}: {node.Op.Kind.Name} has no kernel on this backend"));
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
            var views = new ArrayView<float>[nodes.Count == 0 ? 0 : nodes.Max(n => n.Inputs.Length)];
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
                if (!node.Op.Kind.IsAlias)
                    _kernels[i].Run(_device, views.AsSpan(0, node.Inputs.Length), inShapes, plan.View(node.Output),
                        plan.Shapes[node.Output]);
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

    /// <summary>Every value of the graph for one input shape, at its <see cref="BufferPlan"/> offset in one device
    /// arena (fp32 values).</summary>
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
