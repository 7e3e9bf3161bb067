using Dfer.Weights;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Dfer.TorchSupport;

/// <summary>
/// face-api's tiny face detector in TorchSharp (float64, NCHW), written from its TypeScript: a 'valid'
/// 3×3 conv and leaky ReLU (<c>relu(x − 0.1x) + 0.1x</c>, as TF.js spells it), five TF-'same' 2×2
/// max-pools (−∞ padding) and pad-1 separable convs with leaky ReLU, a stride-1 'same' max-pool and a
/// 1×1 conv; then the box decoding of <c>extractBoxes</c> over the [cells, cells, 5, 5] grid.
/// </summary>
public sealed class TorchTinyFaceDetector : IDisposable
{
    private static readonly double[] Mean = [117.001, 114.697, 97.404];
    private static readonly double[,] Anchors = { { 1.603231, 2.094468 }, { 6.041143, 7.080126 },
        { 2.882459, 3.518061 }, { 4.266906, 5.178857 }, { 9.041765, 10.66308 } };
    private readonly Dictionary<string, Tensor> _w = new();

    public TorchTinyFaceDetector(StateDict weights)
    {
        Dfer.Reference.TorchRuntime.EnsureLoaded();
        foreach (string name in weights.Names)
        {
            var t = weights[name];
            _w[name] = tensor(t.Data.Select(v => (double)v).ToArray(), t.Shape, ScalarType.Float64);
        }
    }

    private static Tensor Leaky(Tensor x)
    {
        var min = x * 0.10000000149011612;
        return F.relu(x - min) + min;
    }

    private static Tensor MaxPoolSame(Tensor x, int stride)
    {
        long h = x.shape[2], w = x.shape[3];
        long ph = Math.Max((h + stride - 1) / stride * stride - stride + 2 - h, 0),
            pw = Math.Max((w + stride - 1) / stride * stride - stride + 2 - w, 0);
        x = F.pad(x, new[] { pw / 2, pw - pw / 2, ph / 2, ph - ph / 2 }, PaddingModes.Constant,
            double.NegativeInfinity);
        return F.max_pool2d(x, new long[] { 2, 2 }, new long[] { stride, stride });
    }

    private Tensor Separable(Tensor x, string p)
    {
        var y = F.conv2d(F.pad(x, new long[] { 1, 1, 1, 1 }), _w[$"{p}/depthwise_filter"].permute(2, 3, 0, 1),
            groups: x.shape[1]);
        return Leaky(F.conv2d(y, _w[$"{p}/pointwise_filter"].permute(3, 2, 0, 1), _w[$"{p}/bias"]));
    }

    /// <summary>The raw grid [N, cells, cells, 25] for pixels [N, S, S, 3] (0..255, already padded to a square and
    /// resized).</summary>
    public Tensor Grid(Tensor pixels)
    {
        using var noGrad = no_grad();
        var x = ((pixels - tensor(Mean, new long[] { 1, 1, 1, 3 }, ScalarType.Float64)) / 255.0).permute(0, 3, 1, 2);
        x = Leaky(F.conv2d(x, _w["conv0/filters"].permute(3, 2, 0, 1), _w["conv0/bias"]));
        for (int i = 1; i <= 5; i++) x = Separable(MaxPoolSame(x, 2), $"conv{i}");
        x = MaxPoolSame(x, 1);
        x = F.conv2d(x, _w["conv8/filters"].permute(3, 2, 0, 1), _w["conv8/bias"]);
        return x.permute(0, 2, 3, 1);
    }

    /// <summary>Every box (x0, y0, x1, y1, score) of image 0 of the grid, relative to the input square, in (row, col,
    /// anchor) order.</summary>
    public static double[][] Boxes(Tensor grid)
    {
        long cells = grid.shape[1];
        var g = grid[0].reshape(cells, cells, 5, 5).data<double>().ToArray();
        static double S(double v) => 1 / (1 + Math.Exp(-v));
        var boxes = new List<double[]>();
        for (int row = 0; row < cells; row++)
            for (int col = 0; col < cells; col++)
                for (int a = 0; a < 5; a++)
                {
                    long i = ((row * cells + col) * 5 + a) * 5;
                    double cx = (col + S(g[i])) / cells, cy = (row + S(g[i + 1])) / cells;
                    double w = Math.Exp(g[i + 2]) * Anchors[a, 0] / cells,
                        h = Math.Exp(g[i + 3]) * Anchors[a, 1] / cells;
                    boxes.Add([cx - w / 2, cy - h / 2, cx - w / 2 + w, cy - h / 2 + h, S(g[i + 4])]);
                }
        return boxes.ToArray();
    }

    public void Dispose()
    {
        foreach (var t in _w.Values) t.Dispose();
    }
}
