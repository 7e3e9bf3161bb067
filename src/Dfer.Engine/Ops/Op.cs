using Dfer.Tensors;

namespace Dfer.Ops;

/// <summary>
/// An op instance: its parameters and (already folded) weights, shape inference and cost
/// accounting. It holds no kernel; backends pick kernels by <see cref="Kind"/>.
/// </summary>
public abstract partial class Op
{
    public abstract OpKind Kind { get; }

    /// <summary>Number of tensor inputs the op takes.</summary>
    public abstract int InputCount { get; }

    /// <summary>Output shape for the given input shapes; throws <see cref="ArgumentException"/> when they do not
    /// fit.</summary>
    public abstract int[] OutputShape(IReadOnlyList<int[]> inputs);

    /// <summary>Floating-point operations of the op's definition (a multiply-add counts 2, as PyTorch's FlopCounterMode
    /// counts convolutions and matrix products; elementwise ops count their arithmetic), whatever algorithm a kernel
    /// uses.</summary>
    public virtual long Flops(IReadOnlyList<int[]> inputs) => 0;

    /// <summary>
    /// Minimum bytes any kernel must move for the op (each input and the output once, plus the
    /// weights, at 4 bytes per fp32 element): the denominator of the roofline's arithmetic intensity.
    /// </summary>
    public virtual long Bytes(IReadOnlyList<int[]> inputs) =>
        sizeof(float)
        * (inputs.Sum(s => Tensor.ElementCountOf(s)) + Tensor.ElementCountOf(OutputShape(inputs)) + WeightElements);

    /// <summary>Number of weight values (folded, as the kernels read them).</summary>
    public virtual long WeightElements => 0;

    protected void ExpectInputs(IReadOnlyList<int[]> inputs)
    {
        if (inputs.Count != InputCount)
            throw new ArgumentException($"{Kind.Name} takes {InputCount} inputs, got {inputs.Count}");
    }

    protected static ArgumentException ShapeError(OpKind kind, string what, int[] shape) =>
        new($"{kind.Name}: {what}, got {Tensor.FormatShape(shape)}");
}
