namespace Dfer.Ops.SsdDecode;

/// <summary>
/// SSD box decoding with the concatenation of the prediction heads fused in (the output layer of face-api's SSD
/// MobileNet v1, docs/models/faceapi-ssd.md). Inputs: <see cref="Levels"/> head maps [N, Hₗ, Wₗ, Aₗ·(4 + C)], each
/// cell holding first Aₗ box encodings <c>(ty, tx, th, tw)</c>, anchor-major, then Aₗ rows of C class logits.
/// Boxes are numbered level by level and within a level in (row, column, anchor) order,
/// <c>k = offsetₗ + (r·Wₗ + c)·Aₗ + a</c>; their count K = Σ Hₗ·Wₗ·Aₗ must equal the anchors'. Anchor k is
/// <c>(ay0, ax0, ay1, ax1)</c> (face-api's <c>Output/extra_dim</c> row, y first). With
/// <c>ah = ay1 − ay0, aw = ax1 − ax0</c>:
/// <c>cy = ty/Sc·ah + ay0 + ah/2, cx = tx/Sc·aw + ax0 + aw/2, hh = e^{th/Ss}·ah/2, hw = e^{tw/Ss}·aw/2</c>
/// (Sc = <see cref="CenterScale"/>, 10, and Ss = <see cref="SizeScale"/>, 5, for face-api) and the output
/// [N, K, 5] row is <c>(cx − hw, cy − hh, cx + hw, cy + hh, σ(logit[ScoreClass]))</c>, x first as Dfer's boxes are,
/// with σ the logistic function.
/// </summary>
public sealed class SsdDecodeOp : Op
{
    public SsdDecodeOp(int levels, float[] anchors, int classes, int scoreClass, double centerScale = 10,
        double sizeScale = 5)
    {
        if (levels <= 0) throw new ArgumentException($"ssddecode needs at least one level, got {levels}");
        if (anchors.Length == 0 || anchors.Length % 4 != 0)
            throw new ArgumentException($"ssddecode anchors are [K, 4], got {anchors.Length} values");
        if (classes <= 0 || scoreClass < 0 || scoreClass >= classes)
            throw new ArgumentException($"ssddecode score class {scoreClass} is not one of {classes} classes");
        if (!(centerScale > 0) || !(sizeScale > 0))
            throw new ArgumentException($"ssddecode scales must be positive, got {centerScale} and {sizeScale}");
        Levels = levels; Anchors = anchors; Classes = classes; ScoreClass = scoreClass;
        CenterScale = centerScale; SizeScale = sizeScale;
    }

    public int Levels { get; }
    /// <summary>[K, 4]: (ay0, ax0, ay1, ax1) per box.</summary>
    public float[] Anchors { get; }
    public int Boxes => Anchors.Length / 4;
    public int Classes { get; }
    public int ScoreClass { get; }
    public double CenterScale { get; }
    public double SizeScale { get; }
    /// <summary>Channels per anchor: 4 box encodings and the class logits.</summary>
    public int PerAnchor => 4 + Classes;

    public override OpKind Kind => SsdDecodeKind.Instance;
    public override int InputCount => Levels;

    /// <summary>Anchors per cell of a level map with <paramref name="channels"/> channels.</summary>
    public int AnchorsPerCell(int channels) => channels / PerAnchor;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        long k = 0;
        foreach (var x in inputs)
        {
            if (x.Length != 4 || x[3] <= 0 || x[3] % PerAnchor != 0)
                throw ShapeError(Kind, $"expects level maps [N, H, W, A·{PerAnchor}]", x);
            if (x[0] != inputs[0][0]) throw ShapeError(Kind, $"levels must share the batch {inputs[0][0]}", x);
            k += (long)x[1] * x[2] * AnchorsPerCell(x[3]);
        }
        if (k != Boxes)
            throw ShapeError(Kind, $"levels hold {k} boxes but there are {Boxes} anchors", inputs[0]);
        return new[] { inputs[0][0], Boxes, 5 };
    }

    public override long WeightElements => Anchors.LongLength;

    /// <summary>About 24 operations per box (two exponentials, one logistic function, the arithmetic).</summary>
    public override long Flops(IReadOnlyList<int[]> inputs) => 24L * inputs[0][0] * Boxes;
}
