using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Ops.Conv2d;

/// <summary>Shapes of one conv2d launch (kernel arguments must be unmanaged values).</summary>
internal struct Conv2dIlgpuParams
{
    public int N, H, W, C, Ho, Wo, Co, Kh, Kw, Sh, Sw, Ph, Pw, Dh, Dw, Act, Residual;
}

/// <summary>
/// conv2d (with dilation) on ILGPU, channels-last. One thread per output element, output channel
/// fastest: a warp reads one input pixel (broadcast) and consecutive weights (coalesced: weights are
/// stored [kH, kW, Cin, Cout]). Padding is a bounds check; activations carry no halo here. A residual input is added
/// before the activation.
/// </summary>
public sealed class Conv2dIlgpu : IIlgpuKernel
{
    private readonly Conv2dOp _op;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _weights, _bias;

    public Conv2dIlgpu(IlgpuDevice device, Conv2dOp op)
    {
        _op = op;
        var (kh, kw) = op.Kernel;
        int cin = op.Cin, cout = op.Cout;
        // [Cout, Cin, kH, kW] → [kH, kW, Cin, Cout]
        var packed = new float[op.Weight.Length];
        for (int o = 0; o < cout; o++)
            for (int i = 0; i < cin; i++)
                for (int a = 0; a < kh; a++)
                    for (int b = 0; b < kw; b++)
                        packed[(((long)a * kw + b) * cin + i) * cout + o] =
                            op.Weight[(((long)o * cin + i) * kh + a) * kw + b];
        _weights = device.Upload(packed);
        _bias = device.Upload(op.Bias ?? new float[cout]);
    }

    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape)
    {
        int[] x = inputShapes[0], y = outputShape;
        var p = new Conv2dIlgpuParams
        {
            N = x[0],
            H = x[1],
            W = x[2],
            C = x[3],
            Ho = y[1],
            Wo = y[2],
            Co = y[3],
            Kh = _op.Kernel.H,
            Kw = _op.Kernel.W,
            Sh = _op.Stride.H,
            Sw = _op.Stride.W,
            Ph = _op.Pad.H,
            Pw = _op.Pad.W,
            Dh = _op.Dilation.H,
            Dw = _op.Dilation.W,
            Act = (int)_op.Act,
            Residual = _op.Residual ? 1 : 0,
        };
        var kernel = device.Kernel(Direct, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv2dIlgpuParams>(Direct));
        kernel(IlgpuLaunch.Count(output.Length), inputs[0], _op.Residual ? inputs[1] : device.Unused, _weights.View,
            _bias.View, output, p);
    }

    private static void Direct(Index1D index, ArrayView<float> x, ArrayView<float> res, ArrayView<float> w,
        ArrayView<float> bias, ArrayView<float> y, Conv2dIlgpuParams p)
    {
        int r = index;
        int o = r % p.Co; r /= p.Co;
        int ow = r % p.Wo; r /= p.Wo;
        int oh = r % p.Ho;
        int n = r / p.Ho;
        float acc = bias[o];
        for (int a = 0; a < p.Kh; a++)
        {
            int ih = oh * p.Sh - p.Ph + a * p.Dh;
            if (ih < 0 || ih >= p.H) continue;
            for (int b = 0; b < p.Kw; b++)
            {
                int iw = ow * p.Sw - p.Pw + b * p.Dw;
                if (iw < 0 || iw >= p.W) continue;
                long xb = (((long)n * p.H + ih) * p.W + iw) * p.C;
                long wb = (((long)a * p.Kw + b) * p.C) * p.Co + o;
                for (int i = 0; i < p.C; i++) acc += x[xb + i] * w[wb + (long)i * p.Co];
            }
        }
        if (p.Residual != 0) acc += res[index];
        y[index] = ActivationMath.ApplyOnDevice(p.Act, acc);
    }

    public void Dispose()
    {
        _weights.Dispose();
        _bias.Dispose();
    }
}
