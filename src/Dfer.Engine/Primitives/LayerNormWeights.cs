namespace Dfer.Primitives;

/// <summary>
/// A LayerNorm's parameters over the last axis (C values):
/// <c>y = (x − mean) / sqrt(var + eps) · weight[c] + bias[c]</c>, biased variance. Shared by the layernorm,
/// tokenpool and lifting ops.
/// </summary>
public sealed class LayerNormWeights
{
    public LayerNormWeights(int channels, float[] weight, float[] bias, double eps)
    {
        if (channels < 1) throw new ArgumentOutOfRangeException(nameof(channels));
        if (weight.Length != channels || bias.Length != channels)
            throw new ArgumentException($"layernorm weight and bias must have {channels} values");
        Channels = channels; Weight = weight; Bias = bias; Eps = eps;
    }

    public int Channels { get; }
    public float[] Weight { get; }
    public float[] Bias { get; }
    public double Eps { get; }

    public long WeightElements => Weight.LongLength + Bias.LongLength;

    /// <summary>Per element: sum, subtract, square, accumulate, then subtract, scale, weight, bias.</summary>
    public static long Flops(long elements) => 8 * elements;
}
