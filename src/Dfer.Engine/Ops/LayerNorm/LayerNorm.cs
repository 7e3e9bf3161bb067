namespace Dfer.Ops.LayerNorm;

/// <summary>
/// LayerNorm over the last axis of an input of any rank, biased variance:
/// <c>y = (x − mean) / sqrt(var + eps) · weight[c] + bias[c]</c> with mean and var = mean((x − mean)²) over the last axis (C values).
/// </summary>
public sealed class LayerNormOp : Op
{
    public LayerNormOp(int channels, float[] weight, float[] bias, double eps)
    {
        if (channels < 1) throw new ArgumentOutOfRangeException(nameof(channels));
        if (weight.Length != channels || bias.Length != channels) throw new ArgumentException($"layernorm weight and bias must have {channels} values");
        Channels = channels; Weight = weight; Bias = bias; Eps = eps;
    }

    public int Channels { get; }
    public float[] Weight { get; }
    public float[] Bias { get; }
    public double Eps { get; }

    public override OpKind Kind => LayerNormKind.Instance;
    public override int InputCount => 1;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        var x = inputs[0];
        if (x.Length < 1 || x[^1] != Channels) throw ShapeError(Kind, $"expects [..., {Channels}]", x);
        return (int[])x.Clone();
    }

    public override long WeightElements => Weight.LongLength + Bias.LongLength;

    // Per element: sum, subtract, square, accumulate, then subtract, scale, weight, bias.
    public override long Flops(IReadOnlyList<int[]> inputs) => 8 * Tensors.Tensor.ElementCountOf(inputs[0]);
}
