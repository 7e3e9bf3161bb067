using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Ops.Gelu;

/// <summary>Exact GELU on ILGPU: one thread per element, the same <see cref="ErfF.Gelu"/> as the CPU kernel.</summary>
public sealed class GeluIlgpu : IIlgpuKernel
{
    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape)
    {
        var kernel = device.Kernel(Gelu, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>>(Gelu));
        kernel(IlgpuLaunch.Count(output.Length), inputs[0], output);
    }

    private static void Gelu(Index1D i, ArrayView<float> x, ArrayView<float> y) => y[i] = ErfF.Gelu(x[i]);

    public void Dispose() { }
}
