using Dfer.Devices.Ilgpu;
using ILGPU;
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
        y[index] = x[i] * ActivationMath.ApplyOnDevice(act, z[j]);
    }

    public void Dispose() { }
}
