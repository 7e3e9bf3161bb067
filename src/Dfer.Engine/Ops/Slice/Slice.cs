namespace Dfer.Ops.Slice;

/// <summary>
/// A contiguous range along one axis: <c>y = x[..., start : start+length, ...]</c> on axis
/// <see cref="Axis"/> (≥ 1: axis 0 is the batch and is never sliced). IFDD drops the class token
/// with it (axis 1, start 1).
/// </summary>
public sealed class SliceOp : Op
{
    public SliceOp(int axis, int start, int length)
    {
        if (axis < 1)
            throw new ArgumentOutOfRangeException(nameof(axis), axis,
                "slice axis must be 1 or more (axis 0 is the batch)");
        if (start < 0) throw new ArgumentOutOfRangeException(nameof(start), start, "slice start must not be negative");
        if (length < 1) throw new ArgumentOutOfRangeException(nameof(length), length, "slice length must be 1 or more");
        Axis = axis; Start = start; Length = length;
    }

    public int Axis { get; }
    public int Start { get; }
    public int Length { get; }

    public override OpKind Kind => SliceKind.Instance;
    public override int InputCount => 1;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        int[] x = inputs[0];
        if (x.Length <= Axis) throw ShapeError(Kind, $"axis {Axis} needs an input of rank {Axis + 1} or more", x);
        if ((long)Start + Length > x[Axis])
            throw ShapeError(Kind, $"range {Start}..{(long)Start + Length} does not fit axis {Axis}", x);
        var y = (int[])x.Clone();
        y[Axis] = Length;
        return y;
    }

    /// <summary>(outer, axis extent, inner) of <paramref name="x"/>: the input is [outer, extent, inner] row-major, the
    /// output [outer, Length, inner].</summary>
    public (long Outer, int Extent, long Inner) Split(int[] x)
    {
        long outer = 1, inner = 1;
        for (int d = 0; d < Axis; d++) outer *= x[d];
        for (int d = Axis + 1; d < x.Length; d++) inner *= x[d];
        return (outer, x[Axis], inner);
    }

    /// <summary>A copy: the kept values are read once and written once; the rest is never read.</summary>
    public override long Bytes(IReadOnlyList<int[]> inputs)
        => 2L * sizeof(float) * Tensors.Tensor.ElementCountOf(OutputShape(inputs));
}
