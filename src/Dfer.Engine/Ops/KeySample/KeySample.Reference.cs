namespace Dfer.Ops.KeySample;

/// <summary>
/// The re-sampling as the original computes it, one output index at a time: each float32 value is formed from
/// float32 operands in one C# expression per rounding (the float64 inputs are the float32 values the model produced,
/// rounded back to float32 first, as the original's tensors are). Unlike the kernels, which compute a key's centre and
/// stride once, this recomputes them for every frame.
/// </summary>
public static class KeySampleReference
{
    public static double[] Run(KeySampleOp op, double[] mu, double[] delta)
    {
        var y = new double[mu.Length * op.PerKey];
        for (int i = 0; i < y.Length; i++)
        {
            int key = i / op.PerKey, g = i % op.PerKey;
            float m = (float)mu[key], d = (float)delta[key];
            float scaled = m * (float)(op.Frames - 1);
            float half = scaled / 2f;
            float centre = half + (float)((op.Frames - 1) / 2.0);
            float exp = MathF.Exp(d);
            float stride = (float)(op.Frames / 3.0) * exp;
            float step = (float)(g - (op.PerKey - 1) / 2.0) * stride;
            float position = centre + step;
            double k = Math.Ceiling((double)position);
            y[i] = k >= 0 && k <= op.Frames - 1 ? k : -1;
        }
        return y;
    }
}
