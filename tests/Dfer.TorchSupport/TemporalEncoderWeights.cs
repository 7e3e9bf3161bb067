namespace Dfer.TorchSupport;

/// <summary>
/// Seeded random state dicts with every key of the Temporal Encoder contract (<c>docs/models/temporal-encoder.md</c>),
/// scaled so that the outputs are far from uniform: weights and biases U(−1/√fan_in, 1/√fan_in), LayerNorm weights
/// 1 + U(−0.2, 0.2) and biases U(−0.2, 0.2), <c>pos_embed</c> U(−0.5, 0.5).
/// </summary>
public static class TemporalEncoderWeights
{
    /// <summary>A random state dict for the given dimensions, its keys in the contract's order.</summary>
    /// <param name="seed">Seed of the <see cref="System.Random"/> that draws every value.</param>
    /// <param name="features">F, the input feature size.</param>
    /// <param name="dModel">d.</param>
    /// <param name="heads">Attention heads; must divide <paramref name="dModel"/> (only checked here).</param>
    /// <param name="feedForward">Each layer's <c>dim_feedforward</c>; its length is the number of layers (≥ 1).</param>
    /// <param name="window">W, the rows of <c>pos_embed</c>.</param>
    /// <param name="positional"><c>"none"</c>, <c>"learned"</c> (adds <c>pos_embed</c>) or
    /// <c>"sinusoidal"</c>.</param>
    /// <param name="finalNorm">Whether to add <c>encoder.norm.*</c>.</param>
    public static Dictionary<string, (float[] Data, long[] Shape)> Random(int seed, int features, int dModel,
        int heads, int[] feedForward, int window, string positional, bool finalNorm)
    {
        ArgumentNullException.ThrowIfNull(feedForward);
        ArgumentOutOfRangeException.ThrowIfLessThan(features, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(dModel, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(heads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(window, 1);
        if (feedForward.Length == 0 || feedForward.Any(ff => ff < 1))
            throw new ArgumentException("Give at least one layer, each with dim_feedforward ≥ 1.", nameof(feedForward));
        if (dModel % heads != 0)
            throw new ArgumentException($"heads ({heads}) does not divide d_model ({dModel}).", nameof(heads));
        if (positional is not ("none" or "learned" or "sinusoidal"))
            throw new ArgumentException($"Unknown positional \"{positional}\".", nameof(positional));

        var rng = new Random(seed);
        var result = new Dictionary<string, (float[] Data, long[] Shape)>(StringComparer.Ordinal);

        void Add(string key, long[] shape, double low, double high, double offset = 0)
        {
            var data = new float[shape.Aggregate(1L, (a, b) => a * b)];
            for (int i = 0; i < data.Length; i++)
                data[i] = (float)(offset + low + (high - low) * rng.NextDouble());
            result.Add(key, (data, shape));
        }
        void Linear(string prefix, int outputs, int inputs)
        {
            double bound = 1 / Math.Sqrt(inputs);
            Add(prefix + "weight", [outputs, inputs], -bound, bound);
            Add(prefix + "bias", [outputs], -bound, bound);
        }
        void LayerNorm(string prefix)
        {
            Add(prefix + "weight", [dModel], -0.2, 0.2, offset: 1);
            Add(prefix + "bias", [dModel], -0.2, 0.2);
        }

        Linear("input_proj.", dModel, features);
        if (positional == "learned")
            Add("pos_embed", [1, window, dModel], -0.5, 0.5);
        for (int i = 0; i < feedForward.Length; i++)
        {
            string prefix = $"encoder.layers.{i}.";
            double bound = 1 / Math.Sqrt(dModel);
            Add(prefix + "self_attn.in_proj_weight", [3 * dModel, dModel], -bound, bound);
            Add(prefix + "self_attn.in_proj_bias", [3 * dModel], -bound, bound);
            Linear(prefix + "self_attn.out_proj.", dModel, dModel);
            Linear(prefix + "linear1.", feedForward[i], dModel);
            Linear(prefix + "linear2.", dModel, feedForward[i]);
            LayerNorm(prefix + "norm1.");
            LayerNorm(prefix + "norm2.");
        }
        if (finalNorm)
            LayerNorm("encoder.norm.");
        Linear("head.", TorchTemporalEncoder.Classes, dModel);
        return result;
    }
}
