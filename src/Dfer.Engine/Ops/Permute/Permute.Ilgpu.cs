using Dfer.Devices.Ilgpu;
using Dfer.Tensors;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Ops.Permute;

/// <summary>Output extents and the matching source strides of a permute, up to rank 6 (unused axes have extent
/// 1).</summary>
internal struct PermuteIlgpuParams
{
    public int D0, D1, D2, D3, D4, D5;
    public long S0, S1, S2, S3, S4, S5;
}

/// <summary>Axis permutation on ILGPU: one thread per output element, which gathers its source element.</summary>
public sealed class PermuteIlgpu(PermuteOp op) : IIlgpuKernel
{
    public const int MaxRank = 6;

    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape)
    {
        int[] view = op.ResolvedView(inputShapes[0]);
        if (view.Length > MaxRank)
            throw new NotSupportedException($"permute of rank {view.Length} on ilgpu (at most {MaxRank})");
        long[] inStrides = Tensor.ContiguousStrides(view).Select(s => (long)s).ToArray();
        // Leading axes of extent 1 pad the permutation to rank 6.
        var dims = new int[MaxRank];
        var strides = new long[MaxRank];
        int pad = MaxRank - view.Length;
        for (int d = 0; d < MaxRank; d++)
        {
            dims[d] = d < pad ? 1 : view[op.Axes[d - pad]];
            strides[d] = d < pad ? 0 : inStrides[op.Axes[d - pad]];
        }
        var p = new PermuteIlgpuParams
        {
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
        var kernel = device.Kernel(Gather, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, PermuteIlgpuParams>(Gather));
        kernel(IlgpuLaunch.Count(output.Length), inputs[0], output, p);
    }

    private static void Gather(Index1D index, ArrayView<float> x, ArrayView<float> y, PermuteIlgpuParams p)
    {
        int r = index;
        int i5 = r % p.D5; r /= p.D5;
        int i4 = r % p.D4; r /= p.D4;
        int i3 = r % p.D3; r /= p.D3;
        int i2 = r % p.D2; r /= p.D2;
        int i1 = r % p.D1;
        int i0 = r / p.D1;
        long src = i0 * p.S0 + i1 * p.S1 + i2 * p.S2 + i3 * p.S3 + i4 * p.S4 + i5 * p.S5;
        y[index] = x[src];
    }

    public void Dispose() { }
}
