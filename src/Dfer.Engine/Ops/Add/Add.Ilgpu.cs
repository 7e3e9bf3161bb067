using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Ops.Add;

/// <summary>y = a + b on ILGPU, one thread per element.</summary>
public sealed class AddIlgpu : IIlgpuKernel
{
    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape)
    {
        var kernel = device.Kernel(Add, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>>(Add));
        kernel(IlgpuLaunch.Count(output.Length), inputs[0], inputs[1], output);
    }

    private static void Add(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y)
        => y[i] = a[i] + b[i];

    public void Dispose() { }
}
