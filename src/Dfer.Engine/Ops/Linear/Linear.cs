using Dfer.Primitives;

namespace Dfer.Ops.Linear;

/// <summary><c>y[..., o] = bias[o] + Σ_i x[..., i] · W[o, i]</c> (PyTorch nn.Linear; W is [Out, In]).</summary>
public sealed class LinearOp : Op
{
    public LinearOp(int inFeatures, int outFeatures, float[] weight, float[]? bias)
    {
        Weights = new LinearWeights(inFeatures, outFeatures, weight, bias);
    }

    /// <summary>The parameters, shared with the primitives that compute the projection.</summary>
    public LinearWeights Weights { get; }
    public int In => Weights.In;
    public int Out => Weights.Out;
    public float[] Weight => Weights.Weight;
    public float[]? Bias => Weights.Bias;

    public override OpKind Kind => LinearKind.Instance;
    public override int InputCount => 1;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        var x = inputs[0];
        if (x.Length < 1 || x[^1] != In) throw ShapeError(Kind, $"expects [..., {In}]", x);
        var y = (int[])x.Clone();
        y[^1] = Out;
        return y;
    }

    public override long WeightElements => Weights.WeightElements;

    public override long Flops(IReadOnlyList<int[]> inputs)
        => 2L * Tensors.Tensor.ElementCountOf(inputs[0]) / In * In * Out;
}
