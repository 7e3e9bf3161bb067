using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Ops.Conv1d;

/// <summary>conv1d on ILGPU ([B, Cin, L] → [B, Cout, L']), one thread per output element, position fastest.</summary>
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

    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes, ArrayView<float> output, int[] outputShape)
    {
        var kernel = device.Kernel(Conv, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, Conv1dIlgpuParams>(Conv));
        kernel(IlgpuLaunch.Count(output.Length), inputs[0], _weight.View, _bias.View, output,
            new Conv1dIlgpuParams(_op.Cin, _op.Cout, _op.KernelSize, _op.Pad, inputShapes[0][2], outputShape[2]));
    }

    /// <summary>Shapes of one conv1d launch.</summary>
    internal readonly struct Conv1dIlgpuParams(int cin, int cout, int k, int pad, int len, int outLen)
    {
        public readonly int Cin = cin, Cout = cout, K = k, Pad = pad, Len = len, OutLen = outLen;
    }

    private static void Conv(Index1D index, ArrayView<float> x, ArrayView<float> w, ArrayView<float> bias, ArrayView<float> y, Conv1dIlgpuParams p)
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
