namespace Dfer.Ops.FrameGather;

/// <summary>
/// Picks frames of clips by index and lays them out channels-last: clips <c>[B, T, C, H, W]</c> (the models' input
/// layout) and indices <c>[B, K]</c> → frames <c>[B·K, H, W, C]</c>, where frame <c>b·K + k</c> is clip b's frame
/// <c>idx[b, k]</c>, or all zeros (a black frame) when the index is outside [0, T) (−1 by convention; NaN too). A
/// fractional index is truncated. With <see cref="Fixed"/> indices the op takes the clips only and uses the same K
/// indices for every clip. RDFER reads its synopsis frames with fixed indices and its detail frames with the key
/// sampler's (docs/models/rdfer.md, steps 1 and 4).
/// </summary>
public sealed class FrameGatherOp : Op
{
    /// <summary>Indices come as a second input.</summary>
    public FrameGatherOp() { }

    /// <summary>The same <paramref name="indices"/> for every clip (each ≥ −1).</summary>
    public FrameGatherOp(int[] indices)
    {
        if (indices.Length == 0 || indices.Any(i => i < -1))
            throw new ArgumentException(
                $"framegather: fixed indices must be -1 (black) or frame numbers, got [{string.Join(", ", indices)}]");
        Fixed = (int[])indices.Clone();
    }

    /// <summary>The fixed indices, or null when they are an input.</summary>
    public int[]? Fixed { get; }

    public override OpKind Kind => FrameGatherKind.Instance;
    public override int InputCount => Fixed is null ? 2 : 1;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        int[] x = inputs[0];
        if (x.Length != 5) throw ShapeError(Kind, "expects clips [B, T, C, H, W]", x);
        int k = Fixed?.Length ?? 0;
        if (Fixed is null)
        {
            int[] idx = inputs[1];
            if (idx.Length != 2 || idx[0] != x[0])
                throw ShapeError(Kind, $"expects indices [{x[0]}, K] (one row per clip)", idx);
            k = idx[1];
        }
        return [x[0] * k, x[3], x[4], x[2]];
    }

    /// <summary>A copy: each output value is read once and written once, plus the indices.</summary>
    public override long Bytes(IReadOnlyList<int[]> inputs)
    {
        long output = Tensors.Tensor.ElementCountOf(OutputShape(inputs));
        return sizeof(float) * (2 * output + (Fixed is null ? Tensors.Tensor.ElementCountOf(inputs[1]) : 0));
    }
}
