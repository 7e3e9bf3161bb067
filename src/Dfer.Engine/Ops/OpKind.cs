using Dfer.Devices.Cpu;
using Dfer.Devices.Cuda;
using Dfer.Devices.Ilgpu;
using Dfer.Onnx;
using Dfer.Tensors;

namespace Dfer.Ops;

/// <summary>
/// Everything the engine knows about one kind of op, declared once in the op's own folder
/// (<c>Ops/&lt;Op&gt;/&lt;Op&gt;.Kind.cs</c>): its stable name, its numerics cases, its float64 Reference
/// and its kernel for each backend. Backends resolve kernels through it, so an op is its folder plus
/// one line in <see cref="OpRegistry"/> (docs/architecture.md, "How to add").
/// </summary>
/// <remarks>
/// Every op has a Reference, a CPU kernel and an ILGPU kernel (the members are abstract, so a kind
/// without one does not build); a native CUDA kernel is optional (<see cref="Cuda"/>). The
/// PyTorch oracle of the op lives next to it as <c>&lt;Op&gt;.Torch.cs</c>, compiled into Dfer.Reference
/// only; a test fails when a registered kind has no cases or no oracle.
/// </remarks>
public abstract class OpKind
{
    /// <summary>Stable lower-case op name used by the CLI, JSON output and test case names.</summary>
    public abstract string Name { get; }

    /// <summary>The <see cref="Op"/> subclass this kind describes.</summary>
    public abstract Type OpType { get; }

    /// <summary>
    /// The op's numerics cases: tiny, odd-sized (primes, not multiples of the vector or tile width)
    /// and realistic (the models' own shapes), with random weights drawn from <paramref name="rng"/>.
    /// </summary>
    public abstract IReadOnlyList<OpCase> Cases(DeterministicRandom rng);

    /// <summary>The op in float64 with plain loops: the oracle every kernel is checked against.</summary>
    public abstract double[] Reference(Op op, IReadOnlyList<double[]> inputs, IReadOnlyList<int[]> shapes);

    /// <summary>The managed SIMD kernel.</summary>
    public abstract ICpuKernel Cpu(Op op);

    /// <summary>The ILGPU kernel (ILGPU's CPU accelerator, or a GPU).</summary>
    public abstract IIlgpuKernel Ilgpu(IlgpuDevice device, Op op);

    /// <summary>Whether the kind has a native CUDA kernel (<c>native/kernels/*.cu</c>) for some shapes.</summary>
    public virtual bool HasNativeCuda => false;

    /// <summary>
    /// The native CUDA kernel for <paramref name="op"/>, or null where the kind has none or the op's
    /// shape is past the native kernel's limits: the cuda backend then runs the ILGPU kernel on the
    /// same CUDA context.
    /// </summary>
    public virtual IIlgpuKernel? Cuda(CudaDevice cuda, Op op, Precision precision) => null;

    /// <summary>
    /// Whether the op only reinterprets its input's shape (reshape): planners let its output share the
    /// input's memory, and a graph executor need not run a kernel for it.
    /// </summary>
    public virtual bool IsAlias => false;

    /// <summary>
    /// The op's form in standard ONNX nodes (<c>&lt;Op&gt;.Onnx.cs</c> in its folder), or null where the kind
    /// has none yet: <c>dfer export --onnx</c> then names the op and writes nothing.
    /// </summary>
    public virtual IOnnxForm? Onnx(Op op) => null;

    public override string ToString() => Name;
}

/// <summary>
/// <see cref="OpKind"/> for one op class: the members take the op already cast to
/// <typeparamref name="TOp"/>, so a kind's file reads as a list of one-line factories.
/// </summary>
public abstract class OpKind<TOp> : OpKind where TOp : Op
{
    public sealed override Type OpType => typeof(TOp);

    public sealed override double[] Reference(Op op, IReadOnlyList<double[]> inputs, IReadOnlyList<int[]> shapes) =>
        RunReference(Cast(op), inputs, shapes);

    public sealed override ICpuKernel Cpu(Op op) => CpuKernel(Cast(op));

    public sealed override IIlgpuKernel Ilgpu(IlgpuDevice device, Op op) => IlgpuKernel(device, Cast(op));

    public sealed override IIlgpuKernel? Cuda(CudaDevice cuda, Op op, Precision precision) =>
        HasNativeCuda ? CudaKernel(cuda, Cast(op), precision) : null;

    public sealed override IOnnxForm? Onnx(Op op) => OnnxForm(Cast(op));

    /// <inheritdoc cref="OpKind.Reference"/>
    protected abstract double[] RunReference(TOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes);

    /// <inheritdoc cref="OpKind.Cpu"/>
    protected abstract ICpuKernel CpuKernel(TOp op);

    /// <inheritdoc cref="OpKind.Ilgpu"/>
    protected abstract IIlgpuKernel IlgpuKernel(IlgpuDevice device, TOp op);

    /// <summary>The native CUDA kernel, or null for ILGPU's; called only when
    /// <see cref="OpKind.HasNativeCuda"/>.</summary>
    protected virtual IIlgpuKernel? CudaKernel(CudaDevice cuda, TOp op, Precision precision) => null;

    /// <inheritdoc cref="OpKind.Onnx"/>
    protected virtual IOnnxForm? OnnxForm(TOp op) => null;

    /// <summary>Uniform random weights in ±√(3 / fan-in), the cases' default initialisation.</summary>
    protected static float[] Weights(DeterministicRandom rng, long count, long fanIn)
    {
        float bound = (float)Math.Sqrt(3.0 / Math.Max(1, fanIn));
        return rng.Uniform(count, -bound, bound);
    }

    private TOp Cast(Op op) => op as TOp
        ?? throw new ArgumentException($"{Name}: expected a {typeof(TOp).Name}, got {op.GetType().Name}", nameof(op));
}
