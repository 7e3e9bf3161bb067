namespace Dfer.Ops.BoxDecode;

/// <summary>
/// Decodes a YOLO-style detector grid into boxes (the tiny face detector's output head). Input
/// [N, Gh, Gw, A·5]: per cell (row r, column c) and anchor a, five raw values t0..t4 (anchor-major).
/// Output [N, Gh·Gw·A, 5], ordered (r, c, a), each box <c>(x0, y0, x1, y1, score)</c> in units of
/// the grid's frame (0..1 across the network input):
/// <c>cx = (c + σ(t0))/Gw, cy = (r + σ(t1))/Gh, w = e^{t2}·Aw[a]/Gw, h = e^{t3}·Ah[a]/Gh,
/// x0 = cx − w/2, y0 = cy − h/2, x1 = x0 + w, y1 = y0 + h, score = σ(t4)</c>, with σ the logistic
/// function and anchors (Aw, Ah) in cell units.
/// </summary>
public sealed class BoxDecodeOp : Op
{
    public BoxDecodeOp(float[] anchorWidths, float[] anchorHeights)
    {
        if (anchorWidths.Length == 0 || anchorWidths.Length != anchorHeights.Length)
            throw new ArgumentException(
                $"boxdecode needs as many anchor widths as heights, got {anchorWidths.Length} "
                + $"and {anchorHeights.Length}");
        AnchorWidths = anchorWidths; AnchorHeights = anchorHeights;
    }

    public float[] AnchorWidths { get; }
    public float[] AnchorHeights { get; }
    public int Anchors => AnchorWidths.Length;

    public override OpKind Kind => BoxDecodeKind.Instance;
    public override int InputCount => 1;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        var x = inputs[0];
        if (x.Length != 4 || x[3] != Anchors * 5) throw ShapeError(Kind, $"expects [N, Gh, Gw, {Anchors * 5}]", x);
        return new[] { x[0], x[1] * x[2] * Anchors, 5 };
    }

    public override long WeightElements => 2L * Anchors;

    /// <summary>About 16 operations per box (three logistic functions, two exponentials, the arithmetic).</summary>
    public override long Flops(IReadOnlyList<int[]> inputs) => 16L * Tensors.Tensor.ElementCountOf(inputs[0]) / 5;
}
