using Dfer.Weights;

namespace Dfer.Models.FaceApi;

/// <summary>Rearranges TF.js tensors (TF's layouts) into the layouts Dfer's ops take.</summary>
internal static class TfJsLayout
{
    /// <summary>A conv filter [kH, kW, Cin, Cout] → [Cout, Cin, kH, kW].</summary>
    public static float[] ConvFilter(StateTensor t)
    {
        int kh = (int)t.Shape[0], kw = (int)t.Shape[1], ci = (int)t.Shape[2], co = (int)t.Shape[3];
        var w = new float[t.Data.Length];
        for (int a = 0; a < kh; a++)
            for (int b = 0; b < kw; b++)
                for (int i = 0; i < ci; i++)
                    for (int o = 0; o < co; o++)
                        w[((o * ci + i) * kh + a) * kw + b] = t.Data[((a * kw + b) * ci + i) * co + o];
        return w;
    }

    /// <summary>A depthwise filter [kH, kW, C, 1] → [C, 1, kH, kW].</summary>
    public static float[] DepthwiseFilter(StateTensor t)
    {
        int kh = (int)t.Shape[0], kw = (int)t.Shape[1], c = (int)t.Shape[2];
        var w = new float[t.Data.Length];
        for (int a = 0; a < kh; a++)
            for (int b = 0; b < kw; b++)
                for (int i = 0; i < c; i++)
                    w[(i * kh + a) * kw + b] = t.Data[(a * kw + b) * c + i];
        return w;
    }

    /// <summary>A pointwise filter [1, 1, C, Cout] or a dense matrix [C, Cout] → [Cout, C].</summary>
    public static float[] Matrix(StateTensor t)
    {
        int ci = (int)t.Shape[^2], co = (int)t.Shape[^1];
        var w = new float[t.Data.Length];
        for (int i = 0; i < ci; i++)
            for (int o = 0; o < co; o++)
                w[o * ci + i] = t.Data[i * co + o];
        return w;
    }
}
