namespace Dfer.Ops.SsdDecode;

/// <summary>The decoding as face-api's output layer spells it: anchor centres and sizes, offsets scaled by the
/// box coder's factors, in float64.</summary>
public static class SsdDecodeReference
{
    public static double[] Run(SsdDecodeOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes)
    {
        int n = shapes[0][0], k = op.Boxes;
        var y = new double[(long)n * k * 5];
        for (int b = 0; b < n; b++)
        {
            int box = 0;
            for (int l = 0; l < op.Levels; l++)
            {
                int[] s = shapes[l];
                int cells = s[1] * s[2], ch = s[3], a = op.AnchorsPerCell(ch);
                for (int cell = 0; cell < cells; cell++)
                    for (int j = 0; j < a; j++, box++)
                    {
                        long at = ((long)b * cells + cell) * ch;
                        double ty = x[l][at + j * 4], tx = x[l][at + j * 4 + 1];
                        double th = x[l][at + j * 4 + 2], tw = x[l][at + j * 4 + 3];
                        double logit = x[l][at + 4 * a + j * op.Classes + op.ScoreClass];
                        double ay0 = op.Anchors[box * 4], ax0 = op.Anchors[box * 4 + 1];
                        double ah = op.Anchors[box * 4 + 2] - ay0, aw = op.Anchors[box * 4 + 3] - ax0;
                        double cy = ay0 + ah / 2 + ty / op.CenterScale * ah;
                        double cx = ax0 + aw / 2 + tx / op.CenterScale * aw;
                        double halfH = Math.Exp(th / op.SizeScale) * ah / 2;
                        double halfW = Math.Exp(tw / op.SizeScale) * aw / 2;
                        long o = ((long)b * k + box) * 5;
                        y[o] = cx - halfW;
                        y[o + 1] = cy - halfH;
                        y[o + 2] = cx + halfW;
                        y[o + 3] = cy + halfH;
                        y[o + 4] = 1 / (1 + Math.Exp(-logit));
                    }
            }
        }
        return y;
    }
}
