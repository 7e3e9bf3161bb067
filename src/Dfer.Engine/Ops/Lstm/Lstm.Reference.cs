namespace Dfer.Ops.Lstm;

public static class LstmReference
{
    public static double[] Run(LstmOp op, double[] x, int[] xs)
    {
        int b = xs[0], len = xs[1], hid = op.Hidden, dirs = op.Directions;
        double[] input = x;
        int inSize = xs[2];
        foreach (var layer in op.Layers)
        {
            var output = new double[(long)b * len * hid * dirs];
            for (int d = 0; d < dirs; d++)
            {
                var cell = layer[d];
                for (int bi = 0; bi < b; bi++)
                {
                    var h = new double[hid];
                    var c = new double[hid];
                    var gates = new double[4 * hid];
                    for (int step = 0; step < len; step++)
                    {
                        int s = d == 0 ? step : len - 1 - step;
                        long xo = ((long)bi * len + s) * inSize;
                        for (int g = 0; g < 4 * hid; g++)
                        {
                            double acc = (double)cell.Bih[g] + cell.Bhh[g];
                            for (int i = 0; i < inSize; i++) acc += cell.Wih[(long)g * inSize + i] * input[xo + i];
                            for (int j = 0; j < hid; j++) acc += cell.Whh[(long)g * hid + j] * h[j];
                            gates[g] = acc;
                        }
                        for (int j = 0; j < hid; j++)
                        {
                            double ig = Sigmoid(gates[j]), fg = Sigmoid(gates[hid + j]);
                            double gg = Math.Tanh(gates[2 * hid + j]), og = Sigmoid(gates[3 * hid + j]);
                            c[j] = fg * c[j] + ig * gg;
                            h[j] = og * Math.Tanh(c[j]);
                            output[(((long)bi * len + s) * dirs + d) * hid + j] = h[j];
                        }
                    }
                }
            }
            input = output;
            inSize = hid * dirs;
        }
        return input;
    }

    private static double Sigmoid(double v) => 1.0 / (1.0 + Math.Exp(-v));
}
