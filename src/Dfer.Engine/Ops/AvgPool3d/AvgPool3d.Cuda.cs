using System.Runtime.InteropServices;
using Dfer.Devices.Cuda;
using Dfer.Tensors;

namespace Dfer.Ops.AvgPool3d;

/// <summary>
/// The kernel argument of avgpool3d_f32 in native/kernels/small_ops.cu, passed by value (field order and types
/// mirror <c>struct AvgPool3dParams</c> there: two pointers, a 64-bit tile count, four ints; 40 bytes).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct AvgPool3dCudaParams
{
    public IntPtr X, Y;
    public long Tiles;
    public int N, Positions, C, CTiles;
}

/// <summary>
/// avgpool3d (the global mean over t, h, w of channels-last [N, T, H, W, C]) on the native CUDA backend
/// (avgpool3d_f32, small_ops.cu): a block per (sample, 32-channel tile), lanes over channels (coalesced reads), its
/// warps over positions, partial sums combined in shared memory in a fixed order. Exact fp32.
/// </summary>
public sealed class AvgPool3dCuda : ICudaStep
{
    private readonly CudaDevice _cuda;
    private readonly CudaKernel _kernel;

    public AvgPool3dCuda(CudaDevice cuda, AvgPool3dOp op)
    {
        ArgumentNullException.ThrowIfNull(op);
        _cuda = cuda;
        _kernel = cuda.Kernel("small_ops", "avgpool3d_f32");
    }

    public CudaDevice Cuda => _cuda;

    /// <summary>Why avgpool3d_f32 cannot run on an input of shape <paramref name="input"/> (small_ops.cu's limits), or
    /// null.</summary>
    public static string? Unsupported(int[] input)
    {
        if (input.Length != 5) return $"expects [N, T, H, W, C], got {Tensor.FormatShape(input)}";
        long positions = (long)input[1] * input[2] * input[3];
        if (positions > int.MaxValue) return $"T·H·W = {positions} positions exceed avgpool3d_f32's 2^31 - 1";
        return null;
    }

    public void Launch(ReadOnlySpan<IntPtr> inputs, IReadOnlyList<int[]> inputShapes, IntPtr output, int[] outputShape,
        IntPtr workspace)
    {
        int[] x = inputShapes[0];
        if (Unsupported(x) is string why) throw new DferException($"small_ops.cu cannot run this avgpool3d: {why}");
        KernelLaunch l = _kernel.Launch ?? throw new DferException("avgpool3d_f32 has no launch line in small_ops.cu");
        int n = x[0], c = x[4];
        int ctiles = (int)((c + (long)l.TileN - 1) / l.TileN);
        long tiles = (long)n * ctiles;
        if (tiles == 0) return;
        var p = new AvgPool3dCudaParams
        {
            X = inputs[0],
            Y = output,
            Tiles = tiles,
            N = n,
            Positions = x[1] * x[2] * x[3],
            C = c,
            CTiles = ctiles,
        };
        uint grid = CudaDevice.GridStride(tiles, 1);
        _cuda.Launch(_kernel, (grid, 1u, 1u), (uint)l.Block, l.Smem, in p);
    }

    public void Dispose() { }
}
