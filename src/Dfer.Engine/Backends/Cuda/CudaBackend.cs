using Dfer.Backends.Ilgpu;
using Dfer.Devices.Cuda;
using Dfer.Devices.Ilgpu;
using Dfer.Ops;
using Dfer.Ops.AvgPool3d;
using Dfer.Ops.Conv3d;
using Dfer.Tensors;

namespace Dfer.Backends.Cuda;

/// <summary>
/// The native CUDA backend (<c>cuda</c>): hand-written kernels of native/kernels/*.cu launched
/// through the driver API, in the CUDA context of ILGPU's CUDA accelerator, on a stream of its own.
/// Ops without a native kernel run ILGPU's kernel on that same context, so activations never leave
/// the device and one arena serves both; <see cref="Native"/> says which ops are native. A compiled
/// graph (<see cref="CudaExecutable"/>) keeps bf16/fp16 activations in 16 bits between convolutions,
/// folds an average pool into the convolution before it, and replays the forward pass from a CUDA
/// graph when every step is native.
/// </summary>
public sealed class CudaBackend : IBackend, IOpRunner
{
    private readonly CudaDevice _cuda;
    private readonly IlgpuBackend _executor;
    private readonly Conv3dCudaVariant? _conv3d;

    /// <summary>Opens the first NVIDIA GPU; <see cref="DferException"/> with the reason when it or the kernels are
    /// missing.</summary>
    public CudaBackend(Precision precision = Precision.Fp32) : this(precision, null) { }

    /// <summary>
    /// As the public constructor, with every conv3d pinned to <paramref name="conv3d"/> (tests and the workbench
    /// compare variants) and the device's other pins and modes from <paramref name="variants"/> (null: the
    /// environment's).
    /// </summary>
    internal CudaBackend(Precision precision, Conv3dCudaVariant? conv3d, CudaVariants? variants = null)
    {
        if (CudaDevice.UnavailableReason() is string reason) throw new DferException($"backend cuda: {reason}");
        Precision = precision;
        IlgpuDevice ilgpu = IlgpuDevice.Open(IlgpuTarget.Cuda);
        try
        {
            _cuda = CudaDevice.Open(ilgpu, variants);
        }
        catch
        {
            ilgpu.Dispose();
            throw;
        }
        _conv3d = conv3d;
        _executor = new IlgpuBackend(ilgpu, Name, $"{_cuda.Description}, {precision.Name()}",
            op => Resolve(_cuda, op, precision, conv3d), SupportsKind);
    }

    /// <summary>
    /// Which graph values are stored in 16 bits: in bf16/fp16 mode, the output of a conv3d whose every
    /// reader is a conv3d (as its input or its residual) and that is not a graph output. Chains of
    /// convolutions (a backbone) then pass 16-bit activations from kernel to kernel; fp32 appears only
    /// where another op reads. A 16-bit value takes 2 bytes per element in the executor's arena.
    /// </summary>
    public static bool[] Store16(Graph graph, Precision precision)
    {
        var store = new bool[graph.ValueCount];
        if (!precision.Is16Bit()) return store;
        List<Node>[] readers = graph.Readers();
        var outputs = graph.Outputs.Values.ToHashSet();
        foreach (Node n in graph.Nodes)
            store[n.Output] = n.Op is Conv3dOp && !outputs.Contains(n.Output)
                && readers[n.Output] is { Count: > 0 } r && r.All(reader => reader.Op is Conv3dOp);
        return store;
    }

    /// <summary>
    /// Conv3d nodes whose output only a global average pool reads (and that is not a graph output), keyed by the
    /// pool node: the convolution's epilogue computes the pool, so its full output is never stored.
    /// </summary>
    public static Dictionary<Node, Node> PooledConvolutions(Graph graph)
    {
        List<Node>[] readers = graph.Readers();
        var outputs = graph.Outputs.Values.ToHashSet();
        var fused = new Dictionary<Node, Node>();
        foreach (Node n in graph.Nodes)
            if (n.Op is Conv3dOp && !outputs.Contains(n.Output)
                && readers[n.Output] is [{ Op: AvgPool3dOp } pool] && pool.Inputs.Length == 1)
                fused[pool] = n;
        return fused;
    }

    /// <summary>
    /// The graph as steps for <see cref="CudaExecutable"/>: one per node, except that a convolution with a pooled
    /// reader (<see cref="PooledConvolutions"/>) and its pool are one step, and a reshape is an alias. Also the
    /// bytes per element of every value (2 for a <see cref="Store16"/> value, else 4).
    /// </summary>
    internal static (List<CudaStep> Steps, int[] ElementBytes) Lower(CudaDevice cuda, Graph graph, Precision precision,
        Conv3dCudaVariant? conv3d)
    {
        bool[] store = Store16(graph, precision);
        Dictionary<Node, Node> pooled = PooledConvolutions(graph);
        var fusedConvs = pooled.Values.ToHashSet();
        var steps = new List<CudaStep>();
        try
        {
            foreach (Node node in graph.Nodes)
            {
                if (fusedConvs.Contains(node)) continue;
                if (pooled.TryGetValue(node, out Node? conv))
                {
                    steps.Add(new CudaStep(conv, Conv3d(cuda, conv, store, precision, conv3d, pooled: true),
                        conv.Inputs, node.Output));
                    continue;
                }
                IIlgpuKernel? kernel = node.Op.Kind.IsAlias ? null
                    : node.Op is Conv3dOp ? Conv3d(cuda, node, store, precision, conv3d, pooled: false)
                    : Resolve(cuda, node.Op, precision, conv3d);
                steps.Add(new CudaStep(node, kernel, node.Inputs, node.Output));
            }
        }
        catch
        {
            foreach (var s in steps) s.Kernel?.Dispose();
            throw;
        }
        return (steps, store.Select(half => half ? 2 : 4).ToArray());
    }

    private static Conv3dCuda Conv3d(CudaDevice cuda, Node node, bool[] store, Precision precision,
        Conv3dCudaVariant? variant, bool pooled) =>
        new(cuda, (Conv3dOp)node.Op, precision, variant, new Conv3dStorage(
            store[node.Inputs[0]], node.Inputs.Length > 1 && store[node.Inputs[1]], store[node.Output]), pooled);

    public string Name => "cuda";
    public string Device => _executor.Device;
    public Precision Precision { get; }

    /// <summary>
    /// The kernel for an op: the native one where its kind declares one for the op's shape
    /// (<see cref="OpKind.Cuda"/>), else ILGPU's on the same CUDA context. <paramref name="conv3d"/> pins
    /// every conv3d to one variant (tests and the workbench compare them).
    /// </summary>
    public static IIlgpuKernel Resolve(CudaDevice cuda, Op op, Precision precision, Conv3dCudaVariant? conv3d = null) =>
        op is Conv3dOp c && conv3d is not null ? new Conv3dCuda(cuda, c, precision, conv3d)
            : op.Kind.Cuda(cuda, op, precision) ?? IlgpuBackend.Resolve(cuda.Ilgpu, op);

    /// <summary>Whether <paramref name="kind"/> runs a native kernel (true, for shapes within its limits) or ILGPU's on
    /// the same GPU (false).</summary>
    public static bool Native(OpKind kind) => kind.HasNativeCuda;

    /// <summary>Every op runs on this backend: natively or through ILGPU on the same context.</summary>
    public static bool SupportsKind(OpKind kind) => IlgpuBackend.SupportsKind(kind);

    public bool Supports(OpKind kind) => _executor.Supports(kind);

    public GuardedOutput RunGuarded(Op op, IReadOnlyList<float[]> inputs, IReadOnlyList<int[]> shapes, int guard,
        float sentinel) =>
        _executor.RunGuarded(op, inputs, shapes, guard, sentinel);

    public IExecutable Compile(Graph graph)
    {
        var (steps, elementBytes) = Lower(_cuda, graph, Precision, _conv3d);
        try
        {
            return new CudaExecutable(graph, _cuda, steps, elementBytes);
        }
        catch
        {
            foreach (var s in steps) s.Kernel?.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        // Modules unload before the context they live in goes away with ILGPU's device.
        _cuda.Dispose();
        _executor.Dispose();
    }
}
