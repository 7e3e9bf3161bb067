namespace Dfer.Ops.Linear;

/// <summary><c>y[..., o] = bias[o] + Σ_i x[..., i] · W[o, i]</c> (PyTorch nn.Linear; W is [Out, In]).</summary>
public sealed class LinearOp : Op
{
    public LinearOp(int inFeatures, int outFeatures, float[] weight, float[]? bias)
    {
        if (weight.Length != (long)inFeatures * outFeatures) throw new ArgumentException($"linear weight has {weight.Length} values, expected [{outFeatures}, {inFeatures}]");
        if (bias != null && bias.Length != outFeatures) throw new ArgumentException($"linear bias has {bias.Length} values, expected {outFeatures}");
        In = inFeatures; Out = outFeatures; Weight = weight; Bias = bias;
    }

    public int In { get; }
    public int Out { get; }
    public float[] Weight { get; }
    public float[]? Bias { get; }

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

    public override long WeightElements => Weight.LongLength + (Bias?.LongLength ?? 0);

    public override long Flops(IReadOnlyList<int[]> inputs) => 2L * Tensors.Tensor.ElementCountOf(inputs[0]) / In * In * Out;
}
