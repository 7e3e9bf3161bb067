using Dfer.Tensors;

namespace Dfer.Runtime;

/// <summary>
/// When a whole model's logits on a backend agree with the fp32 <c>cpu</c> backend's (itself tied to a
/// float64 PyTorch run within 1e-4): every logit within <see cref="MaxAbsLogit"/> of the baseline's,
/// and at least <see cref="MinAgreement"/> of the clips predicting the same class. The one place the
/// model-level bounds of each <see cref="Precision"/> are defined (<c>dfer validate --model</c>, the
/// tests and <c>perf/gpu</c> all read them here).
/// </summary>
/// <remarks>
/// <para>
/// Only fp32 is measured: the 16-bit and TF32 bounds are derived below from the per-op
/// <see cref="Tolerance"/> bounds and M3DFEL's depth, and are to be confirmed on a GPU
/// (<c>PrecisionModeTests.Cuda_M3dfel_AgreesWithCpu_WithinTheModelTolerance</c> and
/// <c>dfer validate --backend cuda --model m3dfel --precision P</c>).
/// </para>
/// <para>
/// Derivation. In the <c>cuda</c> backend only conv3d computes in reduced precision; every other op
/// (LSTM, attention, DMIN, gate, pwconv, fc) runs in fp32. M3DFEL has D = 17 convolutions on its
/// longest path (the stem and two per BasicBlock; the three downsample convolutions run beside
/// them). With folded BatchNorm and residual connections each block passes a relative error on with
/// a gain of about one, so the relative RMS errors of the layers add in quadrature: after the trunk
/// the features carry a relative RMS error of √(D·NMSE_op). The head is fp32: the LSTM's saturating
/// gates and the softmax attention do not amplify it on average, DMIN divides by a variance that
/// mixes in the layer-wide term (its denominator never collapses), and the linear head maps a
/// relative error of the features to the same relative error of the logits. For logits of RMS
/// scale L = 4 (a trained 7-class head; the GPU test widens the generated head to that scale) and a
/// maximum over about a hundred logits (≈ 3σ), the bound is ε = 3·√(D·NMSE_op)·L with NMSE_op the
/// per-op bound of <see cref="Tolerance.For"/>:
/// </para>
/// <list type="bullet">
/// <item>fp32: 1e-4, the house rule (every fp32 path agrees with float64 PyTorch within 1e-4).</item>
/// <item>tf32: NMSE_op ≤ 2e-6 → ε = 3·√(17·2e-6)·4 = 0.070. The per-op estimate (1.6e-7) gives 0.020.</item>
/// <item>fp16: NMSE_op ≤ 2e-6 (operands and stored activations in half) → ε = 0.070; estimate (6e-8, plus
/// the output rounding) about 0.012.</item>
/// <item>bf16: NMSE_op ≤ 1e-4 → ε = 3·√(17·1e-4)·4 = 0.49, taken as 0.5; estimate (3.8e-6) about 0.1.</item>
/// </list>
/// <para>
/// The bounds are what the per-op bounds allow, 3.5× to 6× above what the per-op estimates predict:
/// a kernel bug (a wrong index, a lost tile, a mis-cast) moves logits by O(L), far above them, while
/// honest rounding never reaches them. They are absolute, so they have teeth for logits of O(1..10);
/// the engine's generated stand-in weights give logits of about 0.03, against which only the fp32
/// bound means much.
/// </para>
/// <para>
/// Class agreement. With |Δlogit| ≤ ε a clip can change class only when its baseline's top-two
/// margin is below 2ε. Assuming, for a 7-class head with logits of scale 4, a density of about 0.15
/// clips per logit unit of margin near zero, at most ≈ 0.15·2ε of the clips are at risk: 3·10⁻⁵ for
/// fp32 (required: all agree), 2 % for tf32 and fp16 (required: 97 %), 15 % for bf16, of which the
/// typical error (5× below the bound) flips a small part (required: 90 %). A check on N clips thus
/// tolerates ⌊(1 − MinAgreement)·N⌋ disagreements: none below 34 clips for tf32/fp16, one from 10
/// clips for bf16. The density is an assumption about trained checkpoints, to be replaced by the
/// measured margins of a real one.
/// </para>
/// </remarks>
/// <param name="MaxAbsLogit">Bound on every |logit − baseline logit|.</param>
/// <param name="MinAgreement">Fraction of clips whose predicted class (arg max) must equal the baseline's.</param>
public sealed record ModelTolerance(double MaxAbsLogit, double MinAgreement)
{
    /// <summary>The house rule: fp32 paths agree with float64 PyTorch, and with each other, within 1e-4.</summary>
    public const double Fp32MaxAbsLogit = 1e-4;

    /// <summary>Measured: fp32 kernels against the fp32 cpu backend.</summary>
    public static readonly ModelTolerance Fp32 = new(Fp32MaxAbsLogit, 1.0);

    /// <summary>Derived (see the remarks), to be confirmed on a GPU.</summary>
    public static readonly ModelTolerance Tf32 = new(0.07, 0.97);

    /// <summary>Derived (see the remarks), to be confirmed on a GPU.</summary>
    public static readonly ModelTolerance Fp16 = new(0.07, 0.97);

    /// <summary>Derived (see the remarks), to be confirmed on a GPU.</summary>
    public static readonly ModelTolerance Bf16 = new(0.5, 0.90);

    /// <summary>The whole-model bounds for a backend computing in <paramref name="precision"/>.</summary>
    public static ModelTolerance For(Precision precision) => precision switch
    {
        Precision.Fp32 => Fp32,
        Precision.Tf32 => Tf32,
        Precision.Bf16 => Bf16,
        Precision.Fp16 => Fp16,
    };

    /// <summary>Whether a run with this worst logit difference and this class agreement passes.</summary>
    public bool Accepts(double maxAbsDifference, double agreement) =>
        maxAbsDifference <= MaxAbsLogit && agreement >= MinAgreement - 1e-12;

    /// <summary>
    /// Fraction of the clips of <paramref name="logits"/> whose arg max over <paramref name="classes"/>
    /// equals that of <paramref name="baseline"/> (both laid out [clips, classes]).
    /// </summary>
    public static double Agreement(ReadOnlySpan<float> logits, ReadOnlySpan<float> baseline, int classes)
    {
        if (classes < 1 || logits.Length != baseline.Length || logits.Length % classes != 0)
            throw new ArgumentException(
                $"logits of {logits.Length} and {baseline.Length} values are not the same clips of {classes} classes");
        int clips = logits.Length / classes;
        if (clips == 0) return 1;
        int same = 0;
        for (int c = 0; c < clips; c++)
            if (ArgMax(logits.Slice(c * classes, classes)) == ArgMax(baseline.Slice(c * classes, classes))) same++;
        return (double)same / clips;
    }

    private static int ArgMax(ReadOnlySpan<float> v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }
}
