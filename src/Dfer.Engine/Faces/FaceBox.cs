namespace Dfer.Faces;

/// <summary>A face box in image pixels (x0, y0 inclusive corner; x1, y1 exclusive), with the detector's
/// score.</summary>
public readonly record struct FaceBox(double X0, double Y0, double X1, double Y1, double Score)
{
    public double Width => X1 - X0;
    public double Height => Y1 - Y0;
    public double Area => Math.Max(0, Width) * Math.Max(0, Height);
    public double CenterX => (X0 + X1) / 2;
    public double CenterY => (Y0 + Y1) / 2;

    /// <summary>Intersection over union; 0 when either box is empty.</summary>
    public double Iou(FaceBox o)
    {
        double iw = Math.Max(0, Math.Min(X1, o.X1) - Math.Max(X0, o.X0)),
            ih = Math.Max(0, Math.Min(Y1, o.Y1) - Math.Max(Y0, o.Y0));
        double inter = iw * ih, union = Area + o.Area - inter;
        return union > 0 ? inter / union : 0;
    }

    /// <summary>The box with every coordinate multiplied by <paramref name="factor"/> (frames decoded at another
    /// size).</summary>
    public FaceBox Scaled(double factor) => new(X0 * factor, Y0 * factor, X1 * factor, Y1 * factor, Score);

    /// <summary><c>(1 − t)·a + t·b</c> coordinate by coordinate, score included.</summary>
    public static FaceBox Lerp(FaceBox a, FaceBox b, double t) => new(
        a.X0 + (b.X0 - a.X0) * t, a.Y0 + (b.Y0 - a.Y0) * t, a.X1 + (b.X1 - a.X1) * t, a.Y1 + (b.Y1 - a.Y1) * t,
        a.Score + (b.Score - a.Score) * t);
}
