using Dfer.Primitives;

namespace Dfer.Ops.FrameSample;

/// <summary>
/// Samples frames at fractional time positions by linear interpolation, exactly as IFDD's ISSM
/// does it with <c>normalize_grid</c> + <c>F.grid_sample(bilinear, padding_mode='border',
/// align_corners=False)</c>: for a fractional index <c>idx</c>,
/// <c>p = clamp(idx·T/D − 0.5, 0, T−1)</c> (the grid is normalised with divisor D = <see cref="Divisor"/>
/// but un-normalised over T frames; IFDD has D = 7, T = 8), <c>i0 = ⌊p⌋</c>, <c>w = p − i0</c>,
/// <c>y = (1−w)·x[i0] + w·x[i0+1]</c> (the second term dropped at the last frame).
/// Inputs: frames x <c>[B, T, S, C]</c> and indices <c>[B, K]</c>; output <c>[B, K, S, C]</c>.
/// </summary>
public sealed class FrameSampleOp(double divisor) : Op
{
    /// <summary>The sampling, shared with the primitives that compute it.</summary>
    public FrameInterpolation Sampling { get; } = new(divisor);

    /// <summary>What <c>normalize_grid</c> divides the index by (IFDD: 7, for 8 frames).</summary>
    public double Divisor => Sampling.Divisor;

    public override OpKind Kind => FrameSampleKind.Instance;
    public override int InputCount => 2;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        int[] x = inputs[0], idx = inputs[1];
        if (x.Length != 4 || x[1] < 1) throw ShapeError(Kind, "frames must be [B, T, S, C]", x);
        if (idx.Length != 2 || idx[0] != x[0]) throw ShapeError(Kind, $"indices must be [{x[0]}, K]", idx);
        return new[] { x[0], idx[1], x[2], x[3] };
    }

    /// <summary>The sampling position of a fractional index on <paramref name="frames"/> frames, clamped to the
    /// border.</summary>
    public double Position(double index, int frames) => Sampling.Position(index, frames);

    /// <summary>Three per output value: two products and a sum.</summary>
    public override long Flops(IReadOnlyList<int[]> inputs) => 3 * Tensors.Tensor.ElementCountOf(OutputShape(inputs));

    /// <summary>The indices and the output once, and the two frames each output reads.</summary>
    public override long Bytes(IReadOnlyList<int[]> inputs) =>
        sizeof(float)
        * (Tensors.Tensor.ElementCountOf(inputs[1]) + 3 * Tensors.Tensor.ElementCountOf(OutputShape(inputs)));
}
