namespace Dfer.Ops.BoxDecode;

public static class BoxDecodeReference
{
    public static double[] Run(BoxDecodeOp op, double[] x, int[] xs)
    {
        int n = xs[0], gh = xs[1], gw = xs[2], a = op.Anchors;
        var y = new double[(long)n * gh * gw * a * 5];
        static double Sigmoid(double v) => 1.0 / (1.0 + Math.Exp(-v));
        long i = 0;
        for (int b = 0; b < n; b++)
            for (int r = 0; r < gh; r++)
                for (int c = 0; c < gw; c++)
                    for (int k = 0; k < a; k++, i += 5)
                    {
                        double cx = (c + Sigmoid(x[i])) / gw, cy = (r + Sigmoid(x[i + 1])) / gh;
                        double w = Math.Exp(x[i + 2]) * op.AnchorWidths[k] / gw,
                            h = Math.Exp(x[i + 3]) * op.AnchorHeights[k] / gh;
                        double x0 = cx - w / 2, y0 = cy - h / 2;
                        y[i] = x0; y[i + 1] = y0; y[i + 2] = x0 + w; y[i + 3] = y0 + h; y[i + 4] = Sigmoid(x[i + 4]);
                    }
        return y;
    }
}
