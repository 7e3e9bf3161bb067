using ILGPU;

namespace Dfer.Devices.Ilgpu;

/// <summary>
/// One op's ILGPU kernel(s), bound to an op instance: its weights live on the device from
/// construction to disposal. Inputs and output are dense row-major device views; the kernel only
/// queues work (the caller synchronises).
/// </summary>
public interface IIlgpuKernel : IDisposable
{
    void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape);
}
