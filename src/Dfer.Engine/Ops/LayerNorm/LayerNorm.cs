using Dfer.Primitives;

namespace Dfer.Ops.LayerNorm;

/// <summary>
/// LayerNorm over the last axis of an input of any rank, biased variance:
/// <c>y = (x − mean) / sqrt(var + eps) · weight[c] + bias[c]</c> with mean and var = mean((x − mean)²) over the
/// last axis (C values).
/// </summary>
public sealed class LayerNormOp : Op
{
    public LayerNormOp(int channels, float[] weight, float[] bias, double eps)
    {
        Weights = new LayerNormWeights(channels, weight, bias, eps);
    }

    /// <summary>The parameters, shared with the primitives that compute the norm.</summary>
    public LayerNormWeights Weights { get; }
    public int Channels => Weights.Channels;
    public float[] Weight => Weights.Weight;
    public float[] Bias => Weights.Bias;
    public double Eps => Weights.Eps;

    public override OpKind Kind => LayerNormKind.Instance;
    public override int InputCount => 1;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        var x = inputs[0];
        if (x.Length < 1 || x[^1] != Channels) throw ShapeError(Kind, $"expects [..., {Channels}]", x);
        return (int[])x.Clone();
    }

    public override long WeightElements => Weights.WeightElements;

    // Per element: sum, subtract, square, accumulate, then subtract, scale, weight, bias.
    public override long Flops(IReadOnlyList<int[]> inputs)
        => LayerNormWeights.Flops(Tensors.Tensor.ElementCountOf(inputs[0]));
}
