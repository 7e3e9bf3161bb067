using System.Runtime.InteropServices;
using Dfer.Devices.Cuda;
using Dfer.Tensors;

namespace Dfer.Ops.Permute;

/// <summary>
/// The kernel argument of permute_f32 in native/kernels/small_ops.cu, passed by value (field order and types
/// mirror <c>struct PermuteParams</c> there: two pointers, seven 64-bit integers, six ints; 96 bytes).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct PermuteCudaParams
{
    public IntPtr X, Y;
    public long Total;
    public long S0, S1, S2, S3, S4, S5;
    public int D0, D1, D2, D3, D4, D5;
}

/// <summary>
/// permute on the native CUDA backend (permute_f32, small_ops.cu): one thread per output element, which splits its
/// index over the output extents and gathers from the input through the strides of those axes; writes coalesced.
/// The host drops unit axes and merges output axes that stay adjacent in the input (M3DFEL's clip
/// [B,4,4,3,112,112] → [B,4,4,112,112,3] runs as [B·16, 12544, 3]), planned once per input shape.
/// </summary>
public sealed class PermuteCuda : ICudaStep
{
    /// <summary>The kernel's axes: views of higher rank are refused.</summary>
    public const int MaxRank = 6;

    private readonly CudaDevice _cuda;
    private readonly PermuteOp _op;
    private readonly CudaKernel _kernel;
    private int[]? _plannedShape;
    private PermuteCudaParams _planned;

    public PermuteCuda(CudaDevice cuda, PermuteOp op)
    {
        if (op.ViewShape.Length > MaxRank)
            throw new DferException(
                $"small_ops.cu cannot run this permute: its view has {op.ViewShape.Length} axes, permute_f32 at "
                + $"most {MaxRank}");
        _cuda = cuda;
        _op = op;
        _kernel = cuda.Kernel("small_ops", "permute_f32");
    }

    public CudaDevice Cuda => _cuda;

    /// <summary>Why permute_f32 cannot run <paramref name="op"/> on an input of shape <paramref name="input"/>
    /// (small_ops.cu's limits), or null.</summary>
    public static string? Unsupported(PermuteOp op, int[] input)
    {
        if (op.ViewShape.Length > MaxRank)
            return $"its view has {op.ViewShape.Length} axes, permute_f32 at most {MaxRank}";
        long n = Tensor.ElementCountOf(input);
        if (n > int.MaxValue) return $"{n} elements exceed permute_f32's 2^31 - 1";
        return null;
    }

    /// <summary>
    /// The kernel's output extents and input strides for <paramref name="input"/>: the permuted view with unit axes
    /// dropped and runs of output axes that are contiguous in the input merged, padded on the left to
    /// <see cref="MaxRank"/> axes with extent 1 and stride 0 (pointers and total left unset).
    /// </summary>
    internal static PermuteCudaParams Plan(PermuteOp op, int[] input)
    {
        int[] view = op.ResolvedView(input);
        long[] inStrides = Tensor.ContiguousStrides(view);
        var dims = new List<int>(MaxRank);
        var strides = new List<long>(MaxRank);
        foreach (int a in op.Axes)
        {
            if (view[a] == 1) continue;
            // The previous (outer) output axis steps over exactly this axis' whole extent: one axis.
            if (dims.Count > 0 && strides[^1] == view[a] * inStrides[a])
            {
                dims[^1] *= view[a];
                strides[^1] = inStrides[a];
            }
            else
            {
                dims.Add(view[a]);
                strides.Add(inStrides[a]);
            }
        }
        if (dims.Count > MaxRank)
            throw new DferException($"permute: {dims.Count} axes after merging exceed permute_f32's {MaxRank}");
        while (dims.Count < MaxRank)
        {
            dims.Insert(0, 1);
            strides.Insert(0, 0);
        }
        return new PermuteCudaParams
        {
            Total = Tensor.ElementCountOf(input),
            D0 = dims[0],
            D1 = dims[1],
            D2 = dims[2],
            D3 = dims[3],
            D4 = dims[4],
            D5 = dims[5],
            S0 = strides[0],
            S1 = strides[1],
            S2 = strides[2],
            S3 = strides[3],
            S4 = strides[4],
            S5 = strides[5],
        };
    }

    public void Launch(ReadOnlySpan<IntPtr> inputs, IReadOnlyList<int[]> inputShapes, IntPtr output, int[] outputShape,
        IntPtr workspace)
    {
        int[] shape = inputShapes[0];
        if (_plannedShape is null || !_plannedShape.AsSpan().SequenceEqual(shape))
        {
            if (Unsupported(_op, shape) is string why)
                throw new DferException($"small_ops.cu cannot run this permute: {why}");
            _planned = Plan(_op, shape);
            _plannedShape = (int[])shape.Clone();
        }
        PermuteCudaParams p = _planned;
        if (p.Total == 0) return;
        p.X = inputs[0];
        p.Y = output;
        KernelLaunch l = _kernel.Launch ?? throw new DferException("permute_f32 has no launch line in small_ops.cu");
        uint grid = CudaDevice.GridStride(p.Total, l.TileM);
        _cuda.Launch(_kernel, (grid, 1u, 1u), (uint)l.Block, l.Smem, in p);
    }

    public void Dispose() { }
}
