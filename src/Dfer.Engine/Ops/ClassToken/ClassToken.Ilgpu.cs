using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Ops.ClassToken;

/// <summary>Class token on ILGPU: the token on the device once; one thread per output value, which reads the token or
/// its input value.</summary>
public sealed class ClassTokenIlgpu : IIlgpuKernel
{
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _token;

    public ClassTokenIlgpu(IlgpuDevice device, ClassTokenOp op) => _token = device.Upload(op.Token);

    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape)
    {
        int[] x = inputShapes[0];
        var kernel = device.Kernel(Prepend, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, int, long>(Prepend));
        kernel(IlgpuLaunch.Count(output.Length), inputs[0], _token.View, output, x[2], (long)x[1] * x[2]);
    }

    /// <summary>Output value i: batch item b = i / (body + C), position p = i % (body + C); p &lt; C is the token, else
    /// input value b·body + p − C.</summary>
    private static void Prepend(Index1D index, ArrayView<float> x, ArrayView<float> token, ArrayView<float> y,
        int channels, long body)
    {
        long i = index, per = body + channels;
        long b = i / per, p = i - b * per;
        y[index] = p < channels ? token[p] : x[b * body + p - channels];
    }

    public void Dispose() => _token.Dispose();
}
