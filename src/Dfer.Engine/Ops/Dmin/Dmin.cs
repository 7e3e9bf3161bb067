namespace Dfer.Ops.Dmin;

/// <summary>
/// Dynamic multi-instance normalisation (M3DFEL) of x [B, N, C] over its N instances:
/// per (b,c) instance statistics μ_in (mean over N) and σ²_in (unbiased variance, ÷(N−1)); per b
/// layer statistics μ_ln = mean_c μ_in and σ²_ln = mean_c(σ²_in + μ_in²) − μ_ln²; mixed with
/// softmax(meanWeight) and softmax(varWeight): <c>y = (x − μ) / sqrt(σ² + eps) · weight[c] + bias[c]</c>.
/// </summary>
public sealed class DminOp : Op
{
    public DminOp(int channels, float[] meanWeight, float[] varWeight, float[] weight, float[] bias, double eps = 1e-5)
    {
        if (meanWeight.Length != 2 || varWeight.Length != 2) throw new ArgumentException("dmin mixing weights must have 2 values each");
        if (weight.Length != channels || bias.Length != channels) throw new ArgumentException($"dmin weight and bias must have {channels} values");
        Channels = channels; MeanWeight = meanWeight; VarWeight = varWeight; Weight = weight; Bias = bias; Eps = eps;
    }

    public int Channels { get; }
    public float[] MeanWeight { get; }
    public float[] VarWeight { get; }
    public float[] Weight { get; }
    public float[] Bias { get; }
    public double Eps { get; }

    public override OpKind Kind => DminKind.Instance;
    public override int InputCount => 1;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        var x = inputs[0];
        if (x.Length != 3 || x[2] != Channels || x[1] < 2) throw ShapeError(Kind, $"expects [B, N>=2, {Channels}]", x);
        return (int[])x.Clone();
    }

    public override long WeightElements => MeanWeight.LongLength + VarWeight.LongLength + Weight.LongLength + Bias.LongLength;

    public override long Flops(IReadOnlyList<int[]> inputs) => 8 * Tensors.Tensor.ElementCountOf(inputs[0]);
}
