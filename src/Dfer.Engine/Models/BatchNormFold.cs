using Dfer.Weights;

namespace Dfer.Models;

/// <summary>Eval-mode BatchNorm after a bias-free convolution, folded into the convolution at load time.</summary>
internal static class BatchNormFold
{
    /// <summary>PyTorch's BatchNorm epsilon, which the DFER models keep.</summary>
    public const double Eps = 1e-5;

    /// <summary>
    /// The convolution <paramref name="weight"/> (any rank, output channels first) followed by the BatchNorm whose
    /// tensors are <c><paramref name="bn"/>.{weight,bias,running_mean,running_var}</c>, as one convolution with a
    /// bias: <c>W' = W·γ/√(σ²+ε)</c>, <c>b' = β − μ·γ/√(σ²+ε)</c>, computed in double.
    /// </summary>
    public static (float[] Weight, float[] Bias) Fold(StateDict sd, string weight, string bn)
    {
        var w = sd[weight];
        float[] gamma = sd[bn + ".weight"].Data, beta = sd[bn + ".bias"].Data;
        float[] mean = sd[bn + ".running_mean"].Data, var = sd[bn + ".running_var"].Data;
        int cout = (int)w.Shape[0];
        int per = w.Data.Length / cout;
        var folded = new float[w.Data.Length];
        var bias = new float[cout];
        for (int o = 0; o < cout; o++)
        {
            double scale = gamma[o] / Math.Sqrt(var[o] + Eps);
            for (int i = 0; i < per; i++) folded[o * per + i] = (float)(w.Data[o * per + i] * scale);
            bias[o] = (float)(beta[o] - mean[o] * scale);
        }
        return (folded, bias);
    }
}
