using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Dfer.Ops.MaxPool3d;

/// <summary>Window geometry and shapes of one max-pool launch.</summary>
internal struct MaxPool3dIlgpuParams
{
    public int T, H, W, C, To, Ho, Wo;
    public int KT, KH, KW, ST, SH, SW, PT, PH, PW;
}

/// <summary>Channels-last max pooling on ILGPU: one thread per output element, channel fastest so a warp reads consecutive channels.</summary>
public sealed class MaxPool3dIlgpu : IIlgpuKernel
{
    private readonly MaxPool3dOp _op;

    public MaxPool3dIlgpu(MaxPool3dOp op) { _op = op; }

    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes, ArrayView<float> output, int[] outputShape)
    {
        int[] x = inputShapes[0];
        var p = new MaxPool3dIlgpuParams
        {
            T = x[1],
            H = x[2],
            W = x[3],
            C = x[4],
            To = outputShape[1],
            Ho = outputShape[2],
            Wo = outputShape[3],
            KT = _op.Kernel.T,
            KH = _op.Kernel.H,
            KW = _op.Kernel.W,
            ST = _op.Stride.T,
            SH = _op.Stride.H,
            SW = _op.Stride.W,
            PT = _op.Pad.T,
            PH = _op.Pad.H,
            PW = _op.Pad.W,
        };
        var kernel = device.Kernel(Pool, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, MaxPool3dIlgpuParams>(Pool));
        kernel(IlgpuLaunch.Count(output.Length), inputs[0], output, p);
    }

    private static void Pool(Index1D index, ArrayView<float> x, ArrayView<float> y, MaxPool3dIlgpuParams p)
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

    public void Dispose() { }
}
