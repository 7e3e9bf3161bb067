using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Dfer.Ops.Gate;

/// <summary>The gate on ILGPU, one thread per output value, which finds its z (broadcast or not) and activates
/// it.</summary>
public sealed class GateIlgpu(GateOp op) : IIlgpuKernel
{
    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape)
    {
        int[] xs = inputShapes[0];
        bool broadcast = GateOp.Broadcasts(xs, inputShapes[1]);
        long perSample = output.Length / xs[0];
        var kernel = device.Kernel(Gate, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, long, int, int, int>(Gate));
        kernel(IlgpuLaunch.Count(output.Length), inputs[0], inputs[1], output, perSample, xs[^1], broadcast ? 1 : 0,
            (int)op.Act);
    }

    private static void Gate(Index1D index, ArrayView<float> x, ArrayView<float> z, ArrayView<float> y, long perSample,
        int d, int broadcast, int act)
    {
        long i = index;
        long j = broadcast != 0 ? i / perSample * d + i % d : i;
        float v = z[j];
        if (act == (int)Activation.Sigmoid) v = 1f / (1f + XMath.Exp(-v));
        else if (act == (int)Activation.Tanh) v = XMath.Tanh(v);
        else if (act == (int)Activation.Relu) v = v > 0f || float.IsNaN(v) ? v : 0f;
        else if (act == (int)Activation.Leaky) v = v >= 0f || float.IsNaN(v) ? v : 0.1f * v;
        else if (act == (int)Activation.Relu6) v = v > 0f ? (v < 6f ? v : 6f) : (float.IsNaN(v) ? v : 0f);
        else if (act == (int)Activation.NegAbs) v = -XMath.Abs(v);
        y[index] = x[i] * v;
    }

    public void Dispose() { }
}
