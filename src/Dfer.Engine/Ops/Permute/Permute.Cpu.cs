using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.Permute;

/// <summary>Strided copy into the output view (which may sit inside a halo); one work item per index of the outermost
/// permuted axes (<see cref="Split"/>).</summary>
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
        var (outer, items) = Split(permShape, ctx.Threads);
        _work.Set(x.Data, output.Data, permShape, srcStrides, dstStrides, outer);
        ctx.Pool.Run(_work, items);
    }

    /// <summary>How many leading axes of the permuted shape the work items index, and the items: the first axis, and
    /// the next ones while there are fewer than 4 items per thread (a batch of one clip is one item otherwise); the
    /// innermost axis always stays within an item.</summary>
    public static (int Axes, int Items) Split(int[] permShape, int threads)
    {
        int axes = 1;
        long items = permShape[0];
        while (items < 4L * threads && axes < permShape.Length - 1) items *= permShape[axes++];
        return (axes, (int)items);
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
        private int _axes;

        public void Set(float* x, float* y, int[] shape, long[] src, long[] dst, int axes)
        { _x = x; _y = y; _shape = shape; _src = src; _dst = dst; _axes = axes; }

        public void Execute(int item, int thread)
        {
            int rank = _shape.Length, first = _axes;
            // The item's index on each of the leading axes it stands for.
            float* xs = _x, ys = _y;
            for (int d = first - 1, rest = item; d >= 0; d--)
            {
                int i = rest % _shape[d];
                rest /= _shape[d];
                xs += i * _src[d];
                ys += i * _dst[d];
            }
            Span<int> idx = stackalloc int[rank];
            idx.Clear();
            // The innermost axis runs as a tight strided loop; the index walk covers the rest.
            int inner = rank > 1 ? _shape[rank - 1] : 1;
            long sInner = rank > 1 ? _src[rank - 1] : 0, dInner = rank > 1 ? _dst[rank - 1] : 0;
            long outer = 1;
            for (int d = first; d < rank - 1; d++) outer *= _shape[d];
            for (long e = 0; e < outer; e++)
            {
                long so = 0, dof = 0;
                for (int d = first; d < rank - 1; d++) { so += idx[d] * _src[d]; dof += idx[d] * _dst[d]; }
                float* xp = xs + so, yp = ys + dof;
                for (int k = 0; k < inner; k++) yp[k * dInner] = xp[k * sInner];
                for (int d = rank - 2; d >= first; d--)
                {
                    if (++idx[d] < _shape[d]) break;
                    idx[d] = 0;
                }
            }
        }
    }
}
