using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Dfer.Ops.KeySample;

/// <summary>
/// The re-sampling on ILGPU, one thread per output index, in the float32 order of <see cref="KeySampleOp"/>. On
/// ILGPU's CPU accelerator the arithmetic is .NET's; on a GPU, exp is the device's and a compiler may contract the
/// product and sum, so a key frame can differ where a position lies within an ulp of an integer (validate compares key
/// frames across backends).
/// </summary>
public sealed class KeySampleIlgpu(KeySampleOp op) : IIlgpuKernel
{
    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape)
    {
        var kernel = device.Kernel(Sample, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, int, int>(Sample));
        kernel(IlgpuLaunch.Count(output.Length), inputs[0], inputs[1], output, op.Frames, op.PerKey);
    }

    private static void Sample(Index1D index, ArrayView<float> mu, ArrayView<float> delta, ArrayView<float> y,
        int frames, int perKey)
    {
        int key = index / perKey, g = index % perKey;
        float scaled = mu[key] * (float)(frames - 1);
        float half = scaled / 2f;
        float centre = half + (float)((frames - 1) / 2.0);
        float stride = (float)(frames / 3.0) * XMath.Exp(delta[key]);
        float step = (float)(g - (perKey - 1) / 2.0) * stride;
        float position = centre + step;
        float k = XMath.Ceiling(position);
        y[index] = k >= 0f && k <= frames - 1 ? k : -1f;
    }

    public void Dispose() { }
}
