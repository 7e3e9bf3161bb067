using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Dfer.Primitives.Ilgpu;

/// <summary>Window geometry and shapes of one window-max launch.</summary>
internal struct WindowMax3dParams
{
    public int T, H, W, C, To, Ho, Wo;
    public int KT, KH, KW, ST, SH, SW, PT, PH, PW;
}

/// <summary>
/// Channels-last 3D window max on ILGPU, dense [N,T,H,W,C] → [N,To,Ho,Wo,C]: one thread per output element,
/// channel fastest so a warp reads consecutive channels; −∞ padding, NaN propagates as in PyTorch.
/// </summary>
public static class IlgpuWindowMax3d
{
    /// <summary>Pools <paramref name="x"/> of shape <paramref name="xShape"/> into <paramref name="y"/> of shape
    /// <paramref name="yShape"/>.</summary>
    public static void Run(IlgpuDevice device, Pool3dGeometry g, ArrayView<float> x, int[] xShape, ArrayView<float> y,
        int[] yShape)
    {
        var p = new WindowMax3dParams
        {
            T = xShape[1],
            H = xShape[2],
            W = xShape[3],
            C = xShape[4],
            To = yShape[1],
            Ho = yShape[2],
            Wo = yShape[3],
            KT = g.Kernel.T,
            KH = g.Kernel.H,
            KW = g.Kernel.W,
            ST = g.Stride.T,
            SH = g.Stride.H,
            SW = g.Stride.W,
            PT = g.Pad.T,
            PH = g.Pad.H,
            PW = g.Pad.W,
        };
        var kernel = device.Kernel(Pool,
            a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, WindowMax3dParams>(Pool));
        kernel(IlgpuLaunch.Count(y.Length), x, y, p);
    }

    private static void Pool(Index1D index, ArrayView<float> x, ArrayView<float> y, WindowMax3dParams p)
    {
        int i = index;
        int c = i % p.C; i /= p.C;
        int ow = i % p.Wo; i /= p.Wo;
        int oh = i % p.Ho; i /= p.Ho;
        int ot = i % p.To;
        int n = i / p.To;
        int t0 = XMath.Max(0, ot * p.ST - p.PT), t1 = XMath.Min(p.T, ot * p.ST - p.PT + p.KT);
        int h0 = XMath.Max(0, oh * p.SH - p.PH), h1 = XMath.Min(p.H, oh * p.SH - p.PH + p.KH);
        int w0 = XMath.Max(0, ow * p.SW - p.PW), w1 = XMath.Min(p.W, ow * p.SW - p.PW + p.KW);
        float m = float.NegativeInfinity;
        for (int a = t0; a < t1; a++)
            for (int b = h0; b < h1; b++)
                for (int d = w0; d < w1; d++)
                {
                    float v = x[((((long)n * p.T + a) * p.H + b) * p.W + d) * p.C + c];
                    // NaN wins and stays, as in PyTorch.
                    if (v > m || float.IsNaN(v)) m = v;
                }
        y[index] = m;
    }
}
