namespace Dfer.Ops.Nms;

/// <summary>
/// Greedy non-maximum suppression as face-api does it. Input [N, K, 5] boxes <c>(x0, y0, x1, y1,
/// score)</c>; output [N, K] with 1 for a kept box and 0 otherwise. Candidates are the boxes with
/// <c>score &gt; ScoreThreshold</c>; repeatedly the best remaining candidate (highest score, the
/// higher index among equal scores) is kept and every remaining candidate whose IoU with it exceeds
/// <c>IouThreshold</c> is dropped. <c>IoU = I / (A₁ + A₂ − I)</c> with
/// <c>I = max(0, min(x1) − max(x0)) · max(0, min(y1) − max(y0))</c> and <c>A = (x1 − x0)(y1 − y0)</c>,
/// evaluated in float64 by every kernel (so every backend keeps the same boxes).
/// </summary>
public sealed class NmsOp : Op
{
    public NmsOp(double scoreThreshold, double iouThreshold)
    {
        if (!(iouThreshold >= 0 && iouThreshold <= 1))
            throw new ArgumentException($"nms IoU threshold must be in [0, 1], got {iouThreshold}");
        ScoreThreshold = scoreThreshold; IouThreshold = iouThreshold;
    }

    public double ScoreThreshold { get; }
    public double IouThreshold { get; }

    public override OpKind Kind => NmsKind.Instance;
    public override int InputCount => 1;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        var x = inputs[0];
        if (x.Length != 3 || x[2] != 5) throw ShapeError(Kind, "expects [N, K, 5] boxes (x0, y0, x1, y1, score)", x);
        return new[] { x[0], x[1] };
    }

    /// <summary>At worst every pair of boxes is compared once: about 12 operations per IoU.</summary>
    public override long Flops(IReadOnlyList<int[]> inputs) => 12L * inputs[0][0] * inputs[0][1] * inputs[0][1] / 2;

    /// <summary>The IoU of boxes a and b, each (x0, y0, x1, y1), as the class summary defines it.</summary>
    public static double Iou(double ax0, double ay0, double ax1, double ay1, double bx0, double by0, double bx1,
        double by1)
    {
        double iw = Math.Max(0.0, Math.Min(ax1, bx1) - Math.Max(ax0, bx0));
        double ih = Math.Max(0.0, Math.Min(ay1, by1) - Math.Max(ay0, by0));
        double inter = iw * ih;
        return inter / ((ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter);
    }
}
