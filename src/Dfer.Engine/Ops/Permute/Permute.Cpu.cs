using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.Permute;

/// <summary>Strided copy into the output view (which may sit inside a halo); one work item per outermost output
/// index.</summary>
public sealed unsafe class PermuteCpu : ICpuKernel
{
    private readonly PermuteOp _op;
    private readonly Work _work = new();

    public PermuteCpu(PermuteOp op) { _op = op; }

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = CpuChecks.Dense(inputs[0]);
        var view = _op.ResolvedView(x.Shape);
        var viewStrides = Tensor.ContiguousStrides(view);
        int rank = view.Length;
        // Express the output view in the permuted axes: the out shape must be a reshape of the
        // permuted shape, so walk the permuted index space and map to output offsets.
        var permShape = _op.Axes.Select(a => view[a]).ToArray();
        var srcStrides = _op.Axes.Select(a => viewStrides[a]).ToArray();
        var dstStrides = PermutedOutputStrides(permShape, output);
        _work.Set(x.Data, output.Data, permShape, srcStrides, dstStrides);
        ctx.Pool.Run(_work, permShape[0]);
    }

    /// <summary>Strides, in the output view, of each axis of the permuted shape (the output is that shape with axes
    /// merged or split).</summary>
    private static long[] PermutedOutputStrides(int[] permShape, Tensor output)
    {
        // Flattened index i of the permuted tensor equals flattened index of the output view.
        // For each permuted axis, its unit step is a contiguous flat step; map flat -> output offset
        // requires that the axis boundaries line up with output axes (true for reshapes that only
        // merge/split whole axes, as ours do).
        var result = new long[permShape.Length];
        var outShape = output.Shape;
        int oa = outShape.Length - 1;
        long outRemaining = outShape[oa], outStep = output.Strides[oa];
        for (int pa = permShape.Length - 1; pa >= 0; pa--)
        {
            while (outRemaining == 1 && oa > 0) { oa--; outRemaining = outShape[oa]; outStep = output.Strides[oa]; }
            result[pa] = outStep;
            if (outRemaining % permShape[pa] != 0)
                throw new ArgumentException("permute: output shape splits an axis of the permuted shape");
            outRemaining /= permShape[pa];
            outStep *= permShape[pa];
        }
        return result;
    }

    private sealed class Work : IParallelWork
    {
        private float* _x, _y;
        private int[] _shape = Array.Empty<int>();
        private long[] _src = Array.Empty<long>(), _dst = Array.Empty<long>();

        public void Set(float* x, float* y, int[] shape, long[] src,
            long[] dst)
        { _x = x; _y = y; _shape = shape; _src = src; _dst = dst; }

        public void Execute(int i0, int thread)
        {
            int rank = _shape.Length;
            Span<int> idx = stackalloc int[rank];
            idx.Clear();
            // The innermost axis runs as a tight strided loop; the index walk covers the rest.
            int inner = rank > 1 ? _shape[rank - 1] : 1;
            long sInner = rank > 1 ? _src[rank - 1] : 0, dInner = rank > 1 ? _dst[rank - 1] : 0;
            long outer = 1;
            for (int d = 1; d < rank - 1; d++) outer *= _shape[d];
            float* xs = _x + i0 * _src[0], ys = _y + i0 * _dst[0];
            for (long e = 0; e < outer; e++)
            {
                long so = 0, dof = 0;
                for (int d = 1; d < rank - 1; d++) { so += idx[d] * _src[d]; dof += idx[d] * _dst[d]; }
                float* xp = xs + so, yp = ys + dof;
                for (int k = 0; k < inner; k++) yp[k * dInner] = xp[k * sInner];
                for (int d = rank - 2; d >= 1; d--)
                {
                    if (++idx[d] < _shape[d]) break;
                    idx[d] = 0;
                }
            }
        }
    }
}
