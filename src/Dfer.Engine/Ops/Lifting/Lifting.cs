using Dfer.Primitives;

namespace Dfer.Ops.Lifting;

/// <summary>
/// IFDD's lifting step (docs/models/ifdd.md §3.5.1 steps 7–8, §3.5.2, §3.5.3) as one op: split → WaveNorm →
/// update → predict. Inputs: frame tokens Y <c>[B, T, S, C]</c>, approximation indices <c>[B, K]</c>, detail indices
/// <c>[B, K]</c>
/// (fractional). Per batch item, tokens n = k·S + s:
/// <c>Xa = LN(sample(Y, idx_a); xa_norm)</c>, <c>Xd = LN(sample(Y, idx_d); xd_norm)</c> (sampling exactly as
/// <see cref="FrameInterpolation"/>); <c>Xa' = Xa + (CA(Xa, Xd; q_a, kv_d) W_pa^T + b_pa)</c>;
/// <c>Xd' = Xd − (CA(Xd, Xa'; q_d, kv_a) W_pd^T + b_pd)</c>. <c>CA(Qin, KVin)</c>: Q = q(Qin), [K | V] = kv(KVin),
/// per head softmax((Q_h/√hd) K_hᵀ) V_h, heads merged (channel h·hd + d), plus V (value residual).
/// Output: Xd' <c>[B, K·S, C]</c>.
/// </summary>
public sealed class LiftingOp : Op
{
    public LiftingOp(int heads, int headDim, double divisor, LayerNormWeights xaNorm, LayerNormWeights xdNorm,
        LinearWeights qA, LinearWeights kvD, LinearWeights projectA, LinearWeights qD, LinearWeights kvA,
        LinearWeights projectD)
    {
        if (heads <= 0 || headDim <= 0)
            throw new ArgumentException($"lifting needs positive heads and head dim, got {heads}, {headDim}");
        int c = heads * headDim;
        Check(xaNorm.Channels == c && xdNorm.Channels == c, $"norms must have {c} channels");
        foreach (var (name, l) in new[] { ("q_a", qA), ("project_a", projectA), ("q_d", qD), ("project_d", projectD) })
            Check(l.In == c && l.Out == c && l.Bias != null, $"{name} must be [{c}, {c}] with a bias");
        foreach (var (name, l) in new[] { ("kv_d", kvD), ("kv_a", kvA) })
            Check(l.In == c && l.Out == 2 * c && l.Bias != null, $"{name} must be [{2 * c}, {c}] with a bias");
        Heads = heads; HeadDim = headDim;
        Sample = new FrameInterpolation(divisor);
        XaNorm = xaNorm; XdNorm = xdNorm;
        QA = qA; KvD = kvD; ProjectA = projectA; QD = qD; KvA = kvA; ProjectD = projectD;
    }

    private static void Check(bool ok, string what)
    {
        if (!ok) throw new ArgumentException($"lifting: {what}");
    }

    public int Heads { get; }
    public int HeadDim { get; }
    public int Channels => Heads * HeadDim;
    public double Scale => 1.0 / Math.Sqrt(HeadDim);
    /// <summary>The split's sampling (IFDD divisor 7).</summary>
    public FrameInterpolation Sample { get; }
    public LayerNormWeights XaNorm { get; }
    public LayerNormWeights XdNorm { get; }
    public LinearWeights QA { get; }
    public LinearWeights KvD { get; }
    public LinearWeights ProjectA { get; }
    public LinearWeights QD { get; }
    public LinearWeights KvA { get; }
    public LinearWeights ProjectD { get; }

    public override OpKind Kind => LiftingKind.Instance;
    public override int InputCount => 3;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        int[] y = inputs[0], a = inputs[1], d = inputs[2];
        if (y.Length != 4 || y[1] < 1 || y[2] < 1 || y[3] != Channels)
            throw ShapeError(Kind, $"frames must be [B, T, S, {Channels}]", y);
        if (a.Length != 2 || a[0] != y[0] || a[1] < 1)
            throw ShapeError(Kind, $"approximation indices must be [{y[0]}, K]", a);
        if (d.Length != 2 || !d.SequenceEqual(a))
            throw ShapeError(Kind, $"detail indices must be [{a[0]}, {(a.Length > 1 ? a[1] : 0)}]", d);
        return new[] { y[0], a[1] * y[2], Channels };
    }

    public override long WeightElements =>
        XaNorm.WeightElements + XdNorm.WeightElements + QA.WeightElements + KvD.WeightElements + ProjectA.WeightElements
        + QD.WeightElements + KvA.WeightElements + ProjectD.WeightElements;

    /// <summary>
    /// The six projections (2 FLOPs per multiply-add) and, per cross-attention, QKᵀ and PV over N = K·S
    /// tokens; the sampling, norms and residual adds are not counted.
    /// </summary>
    public override long Flops(IReadOnlyList<int[]> inputs)
    {
        long b = inputs[0][0], n = (long)inputs[1][1] * inputs[0][2], c = Channels;
        long projections = 2 * b * n * c * (c + 2 * c + c) * 2;
        long attention = 2 * (2 * b * Heads * n * n * HeadDim * 2);
        return projections + attention;
    }
}
