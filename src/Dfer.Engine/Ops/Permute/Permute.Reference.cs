using Dfer.Tensors;

namespace Dfer.Ops.Permute;

public static class PermuteReference
{
    public static double[] Run(PermuteOp op, double[] x, int[] xs)
    {
        var view = op.ResolvedView(xs);
        var inStrides = Tensor.ContiguousStrides(view);
        int rank = view.Length;
        var outShape = op.Axes.Select(a => view[a]).ToArray();
        var y = new double[x.Length];
        var idx = new int[rank];
        for (long i = 0; i < y.Length; i++)
        {
            long src = 0;
            for (int d = 0; d < rank; d++) src += idx[d] * inStrides[op.Axes[d]];
            y[i] = x[src];
            for (int d = rank - 1; d >= 0; d--)
            {
                if (++idx[d] < outShape[d]) break;
                idx[d] = 0;
            }
        }
        return y;
    }
}
