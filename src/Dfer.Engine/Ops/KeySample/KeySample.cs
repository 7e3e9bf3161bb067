namespace Dfer.Ops.KeySample;

/// <summary>
/// RDFER's key-expression re-sampling (docs/models/rdfer.md, step 4): from key centres μ <c>[B, K]</c> (in [−1, 1],
/// a tanh) and stride logits δ <c>[B, K]</c> (≤ 0), the frame indices <c>[B, K·G]</c> (key-major) that the detail
/// stream reads from a clip of T frames. For clip b, key j and g = 0..G−1, in float32 and in this order, with no fused
/// multiply-add:
/// <list type="bullet">
/// <item><c>c = μ·(T−1) / 2 + (T−1)/2</c> (three roundings: product, quotient, sum);</item>
/// <item><c>s = (T/3)·exp(δ)</c>, T/3 rounded to float32 first (21.333334 for T = 64);</item>
/// <item><c>p = c + (g − (G−1)/2)·s</c> (product, then sum), <c>k = ⌈p⌉</c>;</item>
/// <item>index <c>4j + g</c> is k when 0 ≤ k ≤ T−1, else −1 (a black frame; also for NaN).</item>
/// </list>
/// The indices are small integers, exact in the float32 output. One ulp in c, s or p can move ⌈p⌉ across an integer,
/// so every kernel follows the order above; exp is .NET's float32 <c>MathF.Exp</c> (PyTorch's vectorised expf may
/// differ from it by an ulp: a key frame can then differ where p falls within an ulp of an integer).
/// </summary>
public sealed class KeySampleOp : Op
{
    public KeySampleOp(int frames = 64, int perKey = 4)
    {
        if (frames < 1 || perKey < 1)
            throw new ArgumentException($"keysample: {frames} frames, {perKey} per key; both must be positive");
        Frames = frames;
        PerKey = perKey;
    }

    /// <summary>T: frames of the clip the indices point into (RDFER: 64).</summary>
    public int Frames { get; }

    /// <summary>G: frames per key (RDFER: 4).</summary>
    public int PerKey { get; }

    /// <summary>(T−1) as float32: the centre's scale.</summary>
    public float Span => Frames - 1;

    /// <summary>(T−1)/2 as float32: the centre's offset.</summary>
    public float Middle => (float)((Frames - 1) / 2.0);

    /// <summary>T/3 rounded to float32: the largest stride.</summary>
    public float StrideScale => (float)(Frames / 3.0);

    /// <summary>g − (G−1)/2 as float32: frame g's offset from its key's centre, in strides.</summary>
    public float Offset(int g) => (float)(g - (PerKey - 1) / 2.0);

    public override OpKind Kind => KeySampleKind.Instance;
    public override int InputCount => 2;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        int[] mu = inputs[0], delta = inputs[1];
        if (mu.Length != 2) throw ShapeError(Kind, "expects key centres [B, K]", mu);
        if (!delta.SequenceEqual(mu))
            throw ShapeError(Kind, $"stride logits must have the centres' shape {Tensors.Tensor.FormatShape(mu)}",
                delta);
        return [mu[0], mu[1] * PerKey];
    }

    /// <summary>Per key: the centre (3), the stride (exp and a product, counted 2); per frame a product, a sum and the
    /// ceiling (3).</summary>
    public override long Flops(IReadOnlyList<int[]> inputs) =>
        (long)inputs[0][0] * inputs[0][1] * (5 + 3 * PerKey);
}
