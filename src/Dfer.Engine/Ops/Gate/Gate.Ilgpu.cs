using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Dfer.Ops.Gate;

/// <summary>y = a·σ(b) on ILGPU, one thread per element.</summary>
public sealed class GateIlgpu : IIlgpuKernel
{
    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes, ArrayView<float> output, int[] outputShape)
    {
        var kernel = device.Kernel(Gate, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>>(Gate));
        kernel(IlgpuLaunch.Count(output.Length), inputs[0], inputs[1], output);
    }

    private static void Gate(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y) =>
        y[i] = a[i] / (1f + XMath.Exp(-b[i]));

    public void Dispose() { }
}
