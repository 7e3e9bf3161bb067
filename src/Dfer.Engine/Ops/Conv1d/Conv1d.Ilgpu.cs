using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Ops.Conv1d;

/// <summary>Shapes of one conv1d launch (kernel arguments must be unmanaged values).</summary>
internal struct Conv1dIlgpuParams
{
    public int Cin, Cout, K, Pad, Len, OutLen;
}

/// <summary>conv1d on ILGPU ([B, Cin, L] → [B, Cout, L']), one thread per output value, position fastest, taps outside
/// the input skipped.</summary>
public sealed class Conv1dIlgpu : IIlgpuKernel
{
    private readonly Conv1dOp _op;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _weight, _bias;

    public Conv1dIlgpu(IlgpuDevice device, Conv1dOp op)
    {
        _op = op;
        _weight = device.Upload(op.Weight);
        _bias = device.Upload(op.Bias);
    }

    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape)
    {
        var kernel = device.Kernel(Conv, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv1dIlgpuParams>(Conv));
        var p = new Conv1dIlgpuParams
        {
            Cin = _op.Cin,
            Cout = _op.Cout,
            K = _op.KernelSize,
            Pad = _op.Pad,
            Len = inputShapes[0][2],
            OutLen = outputShape[2],
        };
        kernel(IlgpuLaunch.Count(output.Length), inputs[0], _weight.View, _bias.View, output, p);
    }

    private static void Conv(Index1D index, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias,
        ArrayView<float> y, Conv1dIlgpuParams p)
    {
        int l = index % p.OutLen, r = index / p.OutLen;
        int o = r % p.Cout, b = r / p.Cout;
        float acc = bias[o];
        for (int i = 0; i < p.Cin; i++)
        {
            long xb = ((long)b * p.Cin + i) * p.Len;
            long wb = ((long)o * p.Cin + i) * p.K;
            for (int k = 0; k < p.K; k++)
            {
                int q = l - p.Pad + k;
                if (q >= 0 && q < p.Len) acc += w[wb + k] * x[xb + q];
            }
        }
        y[index] = acc;
    }

    public void Dispose()
    {
        _weight.Dispose();
        _bias.Dispose();
    }
}
