using System.Runtime.InteropServices;
using Dfer.Devices.Cuda;
using Dfer.Tensors;

namespace Dfer.Ops.Softmax;

/// <summary>
/// The kernel argument of softmax_rows_f32 in native/kernels/small_ops.cu, passed by value (field order and types
/// mirror <c>struct SoftmaxParams</c> there: two pointers, a 64-bit row count, two ints; 32 bytes).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct SoftmaxCudaParams
{
    public IntPtr X, Y;
    public long Rows;
    public int N, Unused;
}

/// <summary>
/// softmax over the last axis on the native CUDA backend (softmax_rows_f32, small_ops.cu): one warp per row, lanes
/// over the row; max-subtracted exp stored, warp-summed, then divided by the sum (as the CPU kernel). Exact fp32.
/// </summary>
public sealed class SoftmaxCuda : ICudaStep
{
    private readonly CudaDevice _cuda;
    private readonly CudaKernel _kernel;

    public SoftmaxCuda(CudaDevice cuda, SoftmaxOp op)
    {
        ArgumentNullException.ThrowIfNull(op);
        _cuda = cuda;
        _kernel = cuda.Kernel("small_ops", "softmax_rows_f32");
    }

    public CudaDevice Cuda => _cuda;

    /// <summary>Why softmax_rows_f32 cannot run on an input of shape <paramref name="input"/> (small_ops.cu's limits),
    /// or null.</summary>
    public static string? Unsupported(int[] input)
    {
        if (input.Length < 1 || input[^1] < 1) return $"the last axis of {Tensor.FormatShape(input)} is empty";
        return null;
    }

    public void Launch(ReadOnlySpan<IntPtr> inputs, IReadOnlyList<int[]> inputShapes, IntPtr output, int[] outputShape,
        IntPtr workspace)
    {
        int[] shape = inputShapes[0];
        if (Unsupported(shape) is string why) throw new DferException($"small_ops.cu cannot run this softmax: {why}");
        int n = shape[^1];
        long rows = Tensor.ElementCountOf(shape) / n;
        if (rows == 0) return;
        var p = new SoftmaxCudaParams { X = inputs[0], Y = output, Rows = rows, N = n };
        KernelLaunch l = _kernel.Launch
            ?? throw new DferException("softmax_rows_f32 has no launch line in small_ops.cu");
        uint grid = CudaDevice.GridStride(rows, l.TileM);
        _cuda.Launch(_kernel, (grid, 1u, 1u), (uint)l.Block, l.Smem, in p);
    }

    public void Dispose() { }
}
