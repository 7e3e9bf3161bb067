namespace Dfer.Ops.AdaptiveSplit;

/// <summary>
/// IFDD's adaptive index split (ISSM, docs/models/ifdd.md §3.5.1 steps 3–6): from per-frame features
/// F <c>[B, T, M]</c> (T = <see cref="Frames"/>), K = <see cref="Count"/> fractional frame indices
/// <c>[B, K]</c> per batch item:
/// <list type="bullet">
/// <item><c>S = similarityScale · F Fᵀ</c> (T×T per batch item),</item>
/// <item><c>P = softmax(±S)</c> over each row (−S when <see cref="Negate"/>),</item>
/// <item><c>off[k] = offsetScale · tanh(Σ_{i,j} W[k, i·T + j] · P[i, j])</c>,</item>
/// <item><c>idx[k] = baseIndex[k] + off[k]</c>.</item>
/// </list>
/// IFDD runs it twice on the same features: approx (S, base 0,2,4,6) and detail (−S, base 1,3,5,7),
/// with T = 8, M = 343, scale 1/768 and offset scale 2.
/// </summary>
public sealed class AdaptiveSplitOp : Op
{
    public AdaptiveSplitOp(int frames, float[] offsetWeight, float[] baseIndex, double similarityScale,
        double offsetScale, bool negate)
    {
        ArgumentNullException.ThrowIfNull(offsetWeight);
        ArgumentNullException.ThrowIfNull(baseIndex);
        if (frames < 1) throw new ArgumentOutOfRangeException(nameof(frames), frames, "issm needs at least one frame");
        if (baseIndex.Length < 1) throw new ArgumentException("issm needs at least one base index", nameof(baseIndex));
        if (offsetWeight.LongLength != (long)baseIndex.Length * frames * frames)
            throw new ArgumentException(
                $"issm offset weight must be [{baseIndex.Length}, {frames}·{frames}] "
                + $"= {(long)baseIndex.Length * frames * frames} values, got {offsetWeight.Length}",
                nameof(offsetWeight));
        if (!double.IsFinite(similarityScale))
            throw new ArgumentOutOfRangeException(nameof(similarityScale), similarityScale, "must be finite");
        if (!double.IsFinite(offsetScale))
            throw new ArgumentOutOfRangeException(nameof(offsetScale), offsetScale, "must be finite");
        Frames = frames; OffsetWeight = offsetWeight; BaseIndex = baseIndex;
        SimilarityScale = similarityScale; OffsetScale = offsetScale; Negate = negate;
    }

    /// <summary>T: frames per batch item.</summary>
    public int Frames { get; }

    /// <summary>W <c>[K, T·T]</c>, row-major; column i·T + j weighs P[i, j].</summary>
    public float[] OffsetWeight { get; }

    /// <summary>The K indices the offsets move.</summary>
    public float[] BaseIndex { get; }

    public double SimilarityScale { get; }
    public double OffsetScale { get; }

    /// <summary>Softmax of −S instead of S (IFDD's detail branch).</summary>
    public bool Negate { get; }

    /// <summary>K: indices per batch item.</summary>
    public int Count => BaseIndex.Length;

    public override OpKind Kind => AdaptiveSplitKind.Instance;
    public override int InputCount => 1;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        int[] x = inputs[0];
        if (x.Length != 3 || x[1] != Frames || x[2] < 1)
            throw ShapeError(Kind, $"expects frame features [B, {Frames}, M>=1]", x);
        return new[] { x[0], Count };
    }

    public override long WeightElements => OffsetWeight.LongLength + BaseIndex.LongLength;

    /// <summary>The similarity product F Fᵀ (B·T·T·M multiply-adds) and the offset GEMV (B·K·T·T
    /// multiply-adds), two flops each.</summary>
    public override long Flops(IReadOnlyList<int[]> inputs)
    {
        int[] x = inputs[0];
        long tt = (long)Frames * Frames;
        return 2L * x[0] * tt * x[2] + 2L * x[0] * Count * tt;
    }
}
