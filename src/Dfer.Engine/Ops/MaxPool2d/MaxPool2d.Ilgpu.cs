using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Dfer.Ops.MaxPool2d;

/// <summary>Window geometry and shapes of one 2D max-pool launch.</summary>
internal struct MaxPool2dIlgpuParams
{
    public int H, W, C, Ho, Wo, KH, KW, SH, SW, PT, PL;
}

/// <summary>Channels-last 2D max pooling on ILGPU: one thread per output element, channel fastest so a warp reads
/// consecutive channels.</summary>
public sealed class MaxPool2dIlgpu : IIlgpuKernel
{
    private readonly MaxPool2dOp _op;

    public MaxPool2dIlgpu(MaxPool2dOp op) { _op = op; }

    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape)
    {
        int[] x = inputShapes[0];
        var p = new MaxPool2dIlgpuParams
        {
            H = x[1],
            W = x[2],
            C = x[3],
            Ho = outputShape[1],
            Wo = outputShape[2],
            KH = _op.Kernel.H,
            KW = _op.Kernel.W,
            SH = _op.Stride.H,
            SW = _op.Stride.W,
            PT = _op.Pad.Top,
            PL = _op.Pad.Left,
        };
        var kernel = device.Kernel(Pool, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            MaxPool2dIlgpuParams>(Pool));
        kernel(IlgpuLaunch.Count(output.Length), inputs[0], output, p);
    }

    private static void Pool(Index1D index, ArrayView<float> x, ArrayView<float> y, MaxPool2dIlgpuParams p)
    {
        int i = index;
        int c = i % p.C; i /= p.C;
        int ow = i % p.Wo; i /= p.Wo;
        int oh = i % p.Ho;
        int n = i / p.Ho;
        int h0 = XMath.Max(0, oh * p.SH - p.PT), h1 = XMath.Min(p.H, oh * p.SH - p.PT + p.KH);
        int w0 = XMath.Max(0, ow * p.SW - p.PL), w1 = XMath.Min(p.W, ow * p.SW - p.PL + p.KW);
        float m = float.NegativeInfinity;
        for (int b = h0; b < h1; b++)
            for (int d = w0; d < w1; d++)
            {
                float v = x[(((long)n * p.H + b) * p.W + d) * p.C + c];
                if (v > m || float.IsNaN(v) && !float.IsNaN(m)) m = v;
            }
        y[index] = m;
    }

    public void Dispose() { }
}
