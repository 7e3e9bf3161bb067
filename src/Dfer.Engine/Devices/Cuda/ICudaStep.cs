using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Devices.Cuda;

/// <summary>
/// A native op of the <c>cuda</c> backend: it queues work only on <see cref="CudaDevice.Stream"/> through the driver
/// API (never an ILGPU launch, never a host synchronisation, never an allocation), on raw device addresses. That makes
/// a forward pass made of such steps capturable into a CUDA graph, and lets the executor store a value in 16 bits or
/// place it anywhere in its arena. Scratch memory is not owned by the step: the executor asks
/// <see cref="WorkspaceBytes"/> for each shape and passes a region of its arena (256-byte aligned, live only during the
/// step).
/// <para>
/// The <see cref="IIlgpuKernel.Run"/> that op validation and single-op tests call is implemented here once: it
/// allocates the workspace, launches and synchronises, with every tensor in fp32.
/// </para>
/// </summary>
public interface ICudaStep : IIlgpuKernel
{
    /// <summary>The device the step's kernels and weights live on.</summary>
    CudaDevice Cuda { get; }

    /// <summary>Scratch bytes the step needs for these shapes; none unless the step says otherwise.</summary>
    long WorkspaceBytes(IReadOnlyList<int[]> inputShapes, int[] outputShape) => 0;

    /// <summary>
    /// Queues the op on <see cref="CudaDevice.Stream"/>. <paramref name="inputs"/> and <paramref name="output"/> are
    /// device addresses of dense row-major tensors in the storage the step was built for; <paramref name="workspace"/>
    /// holds at least <see cref="WorkspaceBytes"/> bytes (any address when that is 0).
    /// </summary>
    void Launch(ReadOnlySpan<IntPtr> inputs, IReadOnlyList<int[]> inputShapes, IntPtr output, int[] outputShape,
        IntPtr workspace);

    void IIlgpuKernel.Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape)
    {
        long bytes = WorkspaceBytes(inputShapes, outputShape);
        using MemoryBuffer1D<byte, Stride1D.Dense>? workspace = bytes > 0 ? device.Accelerator.Allocate1D<byte>(bytes)
            : null;
        var pointers = new IntPtr[inputs.Length];
        for (int i = 0; i < inputs.Length; i++) pointers[i] = CudaDevice.Ptr(inputs[i]);
        Launch(pointers, inputShapes, CudaDevice.Ptr(output), outputShape, workspace?.NativePtr ?? IntPtr.Zero);
        // The workspace is freed on return: the work that uses it must be done first.
        if (workspace is not null) Cuda.Synchronize();
    }
}
