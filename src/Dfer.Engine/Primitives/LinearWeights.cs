namespace Dfer.Primitives;

/// <summary>
/// nn.Linear's parameters: W row-major [Out, In] as PyTorch stores it and an optional bias [Out];
/// <c>y[..., o] = bias[o] + Σ_i x[..., i] · W[o, i]</c>. Shared by the linear and lifting ops.
/// </summary>
public sealed class LinearWeights
{
    public LinearWeights(int inFeatures, int outFeatures, float[] weight, float[]? bias)
    {
        if (weight.Length != (long)inFeatures * outFeatures)
            throw new ArgumentException(
                $"linear weight has {weight.Length} values, expected [{outFeatures}, {inFeatures}]");
        if (bias != null && bias.Length != outFeatures)
            throw new ArgumentException($"linear bias has {bias.Length} values, expected {outFeatures}");
        In = inFeatures; Out = outFeatures; Weight = weight; Bias = bias;
    }

    public int In { get; }
    public int Out { get; }
    public float[] Weight { get; }
    public float[]? Bias { get; }

    public long WeightElements => Weight.LongLength + (Bias?.LongLength ?? 0);
}
