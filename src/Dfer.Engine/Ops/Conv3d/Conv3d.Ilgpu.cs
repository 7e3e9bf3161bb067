using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Ops.Conv3d;

/// <summary>Shapes and options of one conv3d launch (kernel arguments must be unmanaged values).</summary>
internal struct Conv3dIlgpuParams
{
    public int N, T, H, W, C, To, Ho, Wo, Co, Kt, Kh, Kw, St, Sh, Sw, Pt, Ph, Pw, Relu, Residual;
}

/// <summary>
/// conv3d on ILGPU, channels-last, with the bias/residual/ReLU epilogue. One thread per output
/// element, output channel fastest, so the threads of a warp read one input pixel (broadcast) and
/// consecutive weights (coalesced: the weights are stored [kT, kH, kW, Cin, Cout] on the device).
/// Padding is a bounds check: activations carry no halo here.
/// </summary>
public sealed class Conv3dIlgpu : IIlgpuKernel
{
    private readonly Conv3dOp _op;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _weights, _bias;

    public Conv3dIlgpu(IlgpuDevice device, Conv3dOp op)
    {
        _op = op;
        var (kt, kh, kw) = op.Kernel;
        int cin = op.Cin, cout = op.Cout;
        // [Cout, Cin, kT, kH, kW] → [kT, kH, kW, Cin, Cout]
        var packed = new float[op.Weight.Length];
        for (int o = 0; o < cout; o++)
            for (int i = 0; i < cin; i++)
                for (int a = 0; a < kt; a++)
                    for (int b = 0; b < kh; b++)
                        for (int c = 0; c < kw; c++)
                            packed[((((long)a * kh + b) * kw + c) * cin + i) * cout + o] = op.Weight[((((long)o * cin + i) * kt + a) * kh + b) * kw + c];
        _weights = device.Upload(packed);
        _bias = device.Upload(op.Bias);
    }

    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes, ArrayView<float> output, int[] outputShape)
    {
        int[] x = inputShapes[0], y = outputShape;
        var p = new Conv3dIlgpuParams
        {
            N = x[0], T = x[1], H = x[2], W = x[3], C = x[4],
            To = y[1], Ho = y[2], Wo = y[3], Co = y[4],
            Kt = _op.Kernel.T, Kh = _op.Kernel.H, Kw = _op.Kernel.W,
            St = _op.Stride.T, Sh = _op.Stride.H, Sw = _op.Stride.W,
            Pt = _op.Pad.T, Ph = _op.Pad.H, Pw = _op.Pad.W,
            Relu = _op.Relu ? 1 : 0, Residual = _op.Residual ? 1 : 0,
        };
        var kernel = device.Kernel(Direct, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv3dIlgpuParams>(Direct));
        kernel(IlgpuLaunch.Count(output.Length), inputs[0], _weights.View, _bias.View, _op.Residual ? inputs[1] : device.Unused, output, p);
    }

    private static void Direct(Index1D index, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> residual, ArrayView<float> y, Conv3dIlgpuParams p)
    {
        int r = index;
        int o = r % p.Co; r /= p.Co;
        int ow = r % p.Wo; r /= p.Wo;
        int oh = r % p.Ho; r /= p.Ho;
        int ot = r % p.To;
        int n = r / p.To;
        float acc = bias[o];
        for (int a = 0; a < p.Kt; a++)
        {
            int it = ot * p.St - p.Pt + a;
            if (it < 0 || it >= p.T) continue;
            for (int b = 0; b < p.Kh; b++)
            {
                int ih = oh * p.Sh - p.Ph + b;
                if (ih < 0 || ih >= p.H) continue;
                for (int c = 0; c < p.Kw; c++)
                {
                    int iw = ow * p.Sw - p.Pw + c;
                    if (iw < 0 || iw >= p.W) continue;
                    long xb = ((((long)n * p.T + it) * p.H + ih) * p.W + iw) * p.C;
                    long wb = ((((long)a * p.Kh + b) * p.Kw + c) * p.C) * p.Co + o;
                    for (int i = 0; i < p.C; i++) acc += x[xb + i] * w[wb + (long)i * p.Co];
                }
            }
        }
        if (p.Residual != 0) acc += residual[index];
        if (p.Relu != 0 && acc < 0f) acc = 0f;
        y[index] = acc;
    }

    public void Dispose()
    {
        _weights.Dispose();
        _bias.Dispose();
    }
}
