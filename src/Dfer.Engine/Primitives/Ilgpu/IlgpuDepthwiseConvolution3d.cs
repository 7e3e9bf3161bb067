using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Primitives.Ilgpu;

/// <summary>Shapes of one dwconv3d launch (kernel arguments must be unmanaged values).</summary>
internal struct DepthwiseConvolution3dParams
{
    public int N, T, H, W, C, To, Ho, Wo, Kt, Kh, Kw, St, Sh, Sw, Pt, Ph, Pw;
}

/// <summary>
/// Depthwise 3D convolution on ILGPU, dense channels-last [N,T,H,W,C] → [N,To,Ho,Wo,C]. One thread per output
/// element, channel fastest: a warp reads consecutive channels of one input pixel and consecutive weights (stored [kT,
/// kH, kW, C]), both coalesced. Padding is a bounds check; activations carry no halo here.
/// </summary>
public sealed class IlgpuDepthwiseConvolution3d : IDisposable
{
    private readonly DepthwiseConv3dWeights _op;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _weights, _bias;

    public IlgpuDepthwiseConvolution3d(IlgpuDevice device, DepthwiseConv3dWeights op)
    {
        _op = op;
        int c = op.Channels, taps = op.Taps;
        // [C, 1, kT, kH, kW] → [kT·kH·kW, C]
        var packed = new float[op.Weight.Length];
        for (int ch = 0; ch < c; ch++)
            for (int k = 0; k < taps; k++)
                packed[(long)k * c + ch] = op.Weight[(long)ch * taps + k];
        _weights = device.Upload(packed);
        _bias = device.Upload(op.Bias ?? new float[c]);
    }

    /// <summary>Convolves <paramref name="input"/> of shape <paramref name="x"/> into <paramref name="output"/> of
    /// shape <paramref name="y"/>.</summary>
    public void Run(IlgpuDevice device, ArrayView<float> input, int[] x, ArrayView<float> output, int[] y)
    {
        var p = new DepthwiseConvolution3dParams
        {
            N = x[0],
            T = x[1],
            H = x[2],
            W = x[3],
            C = x[4],
            To = y[1],
            Ho = y[2],
            Wo = y[3],
            Kt = _op.Kernel.T,
            Kh = _op.Kernel.H,
            Kw = _op.Kernel.W,
            St = _op.Stride.T,
            Sh = _op.Stride.H,
            Sw = _op.Stride.W,
            Pt = _op.Pad.T,
            Ph = _op.Pad.H,
            Pw = _op.Pad.W,
        };
        var kernel = device.Kernel(Direct, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, DepthwiseConvolution3dParams>(Direct));
        kernel(IlgpuLaunch.Count(output.Length), input, _weights.View, _bias.View, output, p);
    }

    private static void Direct(Index1D index, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias,
        ArrayView<float> y, DepthwiseConvolution3dParams p)
    {
        int r = index;
        int ch = r % p.C; r /= p.C;
        int ow = r % p.Wo; r /= p.Wo;
        int oh = r % p.Ho; r /= p.Ho;
        int ot = r % p.To;
        int n = r / p.To;
        float acc = bias[ch];
        for (int a = 0; a < p.Kt; a++)
        {
            int it = ot * p.St - p.Pt + a;
            if (it < 0 || it >= p.T) continue;
            for (int b = 0; b < p.Kh; b++)
            {
                int ih = oh * p.Sh - p.Ph + b;
                if (ih < 0 || ih >= p.H) continue;
                for (int d = 0; d < p.Kw; d++)
                {
                    int iw = ow * p.Sw - p.Pw + d;
                    if (iw < 0 || iw >= p.W) continue;
                    acc += x[((((long)n * p.T + it) * p.H + ih) * p.W + iw) * p.C + ch]
                        * w[(((long)a * p.Kh + b) * p.Kw + d) * p.C + ch];
                }
            }
        }
        y[index] = acc;
    }

    public void Dispose()
    {
        _weights.Dispose();
        _bias.Dispose();
    }
}
