using Dfer.Backends.Ilgpu;
using Dfer.Devices.Cuda;
using Dfer.Devices.Ilgpu;
using Dfer.Ops;
using Dfer.Ops.AttentionPool;
using Dfer.Ops.Conv3d;
using Dfer.Ops.Lstm;
using Dfer.Tensors;

namespace Dfer.Backends.Cuda;

/// <summary>
/// The native CUDA backend (<c>cuda</c>): hand-written kernels of native/kernels/*.cu launched
/// through the driver API on the CUDA context and stream of ILGPU's CUDA accelerator. Ops without
/// a native kernel run ILGPU's kernel on that same context, so activations never leave the device
/// and one buffer plan serves both; <see cref="Native"/> says which ops are native.
/// </summary>
public sealed class CudaBackend : IBackend, IOpRunner
{
    private readonly CudaDevice _cuda;
    private readonly IlgpuBackend _executor;

    /// <summary>Opens the first NVIDIA GPU; <see cref="DferException"/> with the reason when it or the kernels are missing.</summary>
    public CudaBackend(Precision precision = Precision.Fp32) : this(precision, null) { }

    /// <summary>As the public constructor, with every conv3d pinned to <paramref name="conv3d"/> (tests and the workbench compare variants).</summary>
    internal CudaBackend(Precision precision, Conv3dCudaVariant? conv3d)
    {
        if (CudaDevice.UnavailableReason() is string reason) throw new DferException($"backend cuda: {reason}");
        Precision = precision;
        IlgpuDevice ilgpu = IlgpuDevice.Open(IlgpuTarget.Cuda);
        try
        {
            _cuda = CudaDevice.Open(ilgpu);
        }
        catch
        {
            ilgpu.Dispose();
            throw;
        }
        _executor = new IlgpuBackend(ilgpu, Name, $"{_cuda.Description}, {precision.Name()}", op => Resolve(_cuda, op, precision, conv3d), SupportsKind,
            conv3d is null ? graph => ResolveInGraph(_cuda, graph, precision) : null);
    }

    /// <summary>
    /// Which graph values are stored in 16 bits: in bf16/fp16 mode, the output of a conv3d whose every
    /// reader is a conv3d (as its input or its residual) and that is not a graph output. Chains of
    /// convolutions (a backbone) then pass 16-bit activations from kernel to kernel; fp32 appears only
    /// where another op reads. A 16-bit value occupies the first half of its fp32-sized buffer.
    /// </summary>
    public static bool[] Store16(Graph graph, Precision precision)
    {
        var store = new bool[graph.ValueCount];
        if (!precision.Is16Bit()) return store;
        var readers = new List<Node>[graph.ValueCount];
        foreach (Node n in graph.Nodes)
            foreach (int v in n.Inputs) (readers[v] ??= new()).Add(n);
        var outputs = graph.Outputs.Values.ToHashSet();
        foreach (Node n in graph.Nodes)
            store[n.Output] = n.Op.Kind == OpKind.Conv3d && !outputs.Contains(n.Output)
                && readers[n.Output] is { Count: > 0 } r && r.All(reader => reader.Op.Kind == OpKind.Conv3d);
        return store;
    }

    private static Func<Node, IIlgpuKernel?> ResolveInGraph(CudaDevice cuda, Graph graph, Precision precision)
    {
        bool[] store = Store16(graph, precision);
        return node => node.Op.Kind == OpKind.Conv3d
            ? new Conv3dCuda(cuda, (Conv3dOp)node.Op, precision, null, new Conv3dStorage(
                store[node.Inputs[0]], node.Inputs.Length > 1 && store[node.Inputs[1]], store[node.Output]))
            : Resolve(cuda, node.Op, precision);
    }

    public string Name => "cuda";
    public string Device => _executor.Device;
    public Precision Precision { get; }

    /// <summary>
    /// The kernel for an op: the native one where native/kernels has it, else ILGPU's on the same
    /// CUDA context. Every kind is listed (no discard arm, by design): adding an op makes this say
    /// which it gets.
    /// </summary>
    public static IIlgpuKernel? Resolve(CudaDevice cuda, Op op, Precision precision, Conv3dCudaVariant? conv3d = null) => op.Kind switch
    {
        OpKind.Conv3d => new Conv3dCuda(cuda, (Conv3dOp)op, precision, conv3d),
        // Shapes past attention_pool.cu's limits (none of M3DFEL's) run ILGPU's composition instead.
        OpKind.AttentionPool => AttentionPoolCuda.Unsupported((AttentionPoolOp)op) is null
            ? new AttentionPoolCuda(cuda, (AttentionPoolOp)op) : IlgpuBackend.Resolve(cuda.Ilgpu, op),
        OpKind.Lstm => new LstmCuda(cuda, (LstmOp)op),
        OpKind.Permute or OpKind.Reshape or OpKind.AvgPool3d or OpKind.Linear or OpKind.Attention
            or OpKind.Dmin or OpKind.Gate or OpKind.Conv1d or OpKind.Softmax or OpKind.LayerNorm or OpKind.Gelu
            or OpKind.MaxPool3d or OpKind.DepthwiseConv3d or OpKind.Conv2d or OpKind.FrameSample
            or OpKind.RelPosAttention or OpKind.Lifting or OpKind.Add or OpKind.Slice or OpKind.ClassToken
            or OpKind.AdaptiveSplit or OpKind.TokenPool or OpKind.TokenMaxPool or OpKind.SepConv2d
            or OpKind.MaxPool2d or OpKind.AddAct or OpKind.BoxDecode or OpKind.Nms => IlgpuBackend.Resolve(cuda.Ilgpu, op),
    };

    /// <summary>Whether <paramref name="kind"/> runs a native kernel (true) or ILGPU's on the same GPU (false).</summary>
    public static bool Native(OpKind kind) => kind is OpKind.Conv3d or OpKind.Lstm or OpKind.AttentionPool;

    /// <summary>Every op runs on this backend: natively or through ILGPU on the same context.</summary>
    public static bool SupportsKind(OpKind kind) => IlgpuBackend.SupportsKind(kind);

    public bool Supports(OpKind kind) => _executor.Supports(kind);

    public GuardedOutput RunGuarded(Op op, IReadOnlyList<float[]> inputs, IReadOnlyList<int[]> shapes, int guard, float sentinel) =>
        _executor.RunGuarded(op, inputs, shapes, guard, sentinel);

    public IExecutable Compile(Graph graph) => _executor.Compile(graph);

    public void Dispose()
    {
        // Modules unload before the context they live in goes away with ILGPU's device.
        _cuda.Dispose();
        _executor.Dispose();
    }
}
