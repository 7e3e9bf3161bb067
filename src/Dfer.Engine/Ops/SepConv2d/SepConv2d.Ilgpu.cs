using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Ops.SepConv2d;

/// <summary>Shapes and geometry of one sepconv2d launch.</summary>
internal struct SepConv2dIlgpuParams
{
    public int H, W, C, Ho, Wo, Co, Kh, Kw, Sh, Sw, Pt, Pl, Act, HasPointwise;
}

/// <summary>
/// sepconv2d on ILGPU in two launches: the depthwise pass writes [N,Ho,Wo,C] to a scratch buffer
/// (one thread per element, channel fastest so a warp reads consecutive channels), then the
/// pointwise pass (one thread per output element, output channel fastest; weights stored [C, Cout]
/// so a warp's weight reads coalesce) adds the bias and applies the activation.
/// </summary>
public sealed class SepConv2dIlgpu : IIlgpuKernel
{
    private readonly SepConv2dOp _op;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _dw, _pw, _bias;
    private MemoryBuffer1D<float, Stride1D.Dense>? _scratch;

    public SepConv2dIlgpu(IlgpuDevice device, SepConv2dOp op)
    {
        _op = op;
        int c = op.Channels, co = op.Cout;
        _dw = device.Upload(op.Depthwise);
        var pw = new float[Math.Max(1, op.Pointwise == null ? 1 : c * co)];
        if (op.Pointwise != null)
            for (int o = 0; o < co; o++)
                for (int ch = 0; ch < c; ch++) pw[(long)ch * co + o] = op.Pointwise[(long)o * c + ch];
        _pw = device.Upload(pw);
        _bias = device.Upload(op.Bias ?? new float[co]);
    }

    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape)
    {
        int[] x = inputShapes[0], y = outputShape;
        var p = new SepConv2dIlgpuParams
        {
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
            Pt = _op.Pad.Top,
            Pl = _op.Pad.Left,
            Act = (int)_op.Act,
            HasPointwise = _op.Pointwise != null ? 1 : 0,
        };
        long mid = (long)y[0] * y[1] * y[2] * x[3];
        if (_scratch == null || _scratch.Length < mid)
        {
            _scratch?.Dispose();
            _scratch = device.Allocate(mid);
        }
        var scratch = _scratch.View.SubView(0, mid);
        var depthwise = device.Kernel(Depthwise, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, SepConv2dIlgpuParams>(Depthwise));
        depthwise(IlgpuLaunch.Count(mid), inputs[0], _dw.View, scratch, p);
        var pointwise = device.Kernel(Pointwise, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, SepConv2dIlgpuParams>(Pointwise));
        pointwise(IlgpuLaunch.Count(output.Length), scratch, _pw.View, _bias.View, output, p);
    }

    private static void Depthwise(Index1D index, ArrayView<float> x, ArrayView<float> dw, ArrayView<float> d,
        SepConv2dIlgpuParams p)
    {
        int r = index;
        int ch = r % p.C; r /= p.C;
        int ow = r % p.Wo; r /= p.Wo;
        int oh = r % p.Ho;
        int n = r / p.Ho;
        float acc = 0f;
        for (int a = 0; a < p.Kh; a++)
        {
            int ih = oh * p.Sh - p.Pt + a;
            if (ih < 0 || ih >= p.H) continue;
            for (int b = 0; b < p.Kw; b++)
            {
                int iw = ow * p.Sw - p.Pl + b;
                if (iw < 0 || iw >= p.W) continue;
                acc += x[(((long)n * p.H + ih) * p.W + iw) * p.C + ch] * dw[((long)ch * p.Kh + a) * p.Kw + b];
            }
        }
        d[index] = acc;
    }

    private static void Pointwise(Index1D index, ArrayView<float> d, ArrayView<float> pw, ArrayView<float> bias,
        ArrayView<float> y, SepConv2dIlgpuParams p)
    {
        int o = index % p.Co;
        long pos = index / p.Co;
        float acc = bias[o];
        if (p.HasPointwise == 0) acc += d[pos * p.C + o];
        else
            for (int ch = 0; ch < p.C; ch++) acc += d[pos * p.C + ch] * pw[(long)ch * p.Co + o];
        acc = ActivationMath.ApplyOnDevice(p.Act, acc);
        y[index] = acc;
    }

    public void Dispose()
    {
        _dw.Dispose(); _pw.Dispose(); _bias.Dispose(); _scratch?.Dispose();
    }
}
