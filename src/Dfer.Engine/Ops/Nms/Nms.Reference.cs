namespace Dfer.Ops.Nms;

/// <summary>The definition written the way face-api's source reads: sort candidates by score, then sweep.</summary>
public static class NmsReference
{
    public static double[] Run(NmsOp op, double[] x, int[] xs)
    {
        int n = xs[0], k = xs[1];
        var y = new double[(long)n * k];
        for (int b = 0; b < n; b++)
        {
            long base0 = (long)b * k * 5;
            double S(int i) => x[base0 + i * 5 + 4];
            // Descending score; among equal scores the higher index first.
            var order = new List<int>(Enumerable.Range(0, k).Where(i => S(i) > op.ScoreThreshold)
                .OrderByDescending(S).ThenByDescending(i => i));
            while (order.Count > 0)
            {
                int best = order[0];
                order.RemoveAt(0);
                y[(long)b * k + best] = 1;
                long p = base0 + best * 5;
                order.RemoveAll(i =>
                {
                    long q = base0 + i * 5;
                    return NmsOp.Iou(x[p], x[p + 1], x[p + 2], x[p + 3], x[q], x[q + 1], x[q + 2],
                        x[q + 3]) > op.IouThreshold;
                });
            }
        }
        return y;
    }
}
