using Dfer.Ops;
using Dfer.Ops.AddAct;
using Dfer.Ops.AvgPool3d;
using Dfer.Ops.Conv2d;
using Dfer.Ops.Linear;
using Dfer.Ops.Reshape;
using Dfer.Ops.SepConv2d;
using Dfer.Ops.Softmax;
using Dfer.Weights;

namespace Dfer.Models.FaceApi;

/// <summary>
/// face-api's 7-class face expression network (FaceExpressionNet on its FaceFeatureExtractor), as
/// a Dfer graph built from the package's TF.js weights (<c>face_expression_model</c>).
/// <para>
/// Input: the face crop padded to a square (centred) and resized to 112×112 RGB, normalised as
/// <c>(pixel − mean)/255</c> with mean (122.782, 117.001, 104.298). Four dense blocks follow
/// (32, 64, 128, 256 channels, each halving the size: 112 → 56 → 28 → 14 → 7). A dense block is
/// <c>o1 = relu(c0(x))</c>, <c>o2 = c1(o1)</c>, <c>o3 = c2(relu(o1+o2))</c>, <c>o4 = c3(relu(o1+o2+o3))</c>,
/// output <c>relu(o1+o2+o3+o4)</c>; c0 has stride 2, c1..c3 stride 1, all 3×3 with TF 'same' padding;
/// c0 of the first block is a full convolution, every other c is depthwise-separable with a bias.
/// Then a 7×7 average pool (the whole map), a 256→7 fully connected layer (logits) and softmax.
/// </para>
/// <para>
/// TF's 'same' padding of the first (stride-2) convolution on 112 pixels adds one row and column
/// at the bottom and right only, so the graph takes the normalised image with that zero row and
/// column already appended: [N, 113, 113, 3] (<see cref="Prepare"/> writes it).
/// </para>
/// </summary>
public static class FaceExpressionNet
{
    public const int Size = 112;
    public const int PaddedSize = Size + 1;
    public static readonly double[] MeanRgb = [122.782, 117.001, 104.298];

    /// <summary>face-api's label order.</summary>
    public static readonly IReadOnlyList<string> Labels =
        ["neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"];

    /// <summary>For each of Dfer's seven classes (happy, sad, neutral, angry, surprise, disgust, fear), its index in
    /// <see cref="Labels"/>.</summary>
    public static readonly int[] ToDferOrder = [1, 2, 0, 3, 6, 5, 4];

    private static readonly int[] Channels = [32, 64, 128, 256];

    /// <summary>Every TF.js weight name with its shape.</summary>
    public static IReadOnlyList<(string Name, long[] Shape)> Keys
    {
        get
        {
            var k = new List<(string, long[])>();
            int cin = 3;
            for (int d = 0; d < 4; d++)
            {
                int c = Channels[d];
                for (int j = 0; j < 4; j++)
                {
                    string p = $"dense{d}/conv{j}";
                    int ci = j == 0 ? cin : c;
                    if (d == 0 && j == 0) k.Add(($"{p}/filters", [3, 3, 3, c]));
                    else
                    {
                        k.Add(($"{p}/depthwise_filter", [3, 3, ci, 1]));
                        k.Add(($"{p}/pointwise_filter", [1, 1, ci, c]));
                    }
                    k.Add(($"{p}/bias", [c]));
                }
                cin = c;
            }
            k.Add(("fc/weights", [256, 7]));
            k.Add(("fc/bias", [7]));
            return k;
        }
    }

    /// <summary>The graph: input [N, 113, 113, 3] (see the class summary), outputs "logits" and "probabilities" [N, 7]
    /// in face-api's label order, and "pooled" [N, 256], the pooled features the fully connected layer reads.</summary>
    public static Graph Build(StateDict w)
    {
        w.Validate("face-api face_expression_model", Keys);
        var g = new Graph();
        int x = Graph.Input, size = Size, cin = 3;
        for (int d = 0; d < 4; d++)
        {
            int c = Channels[d];
            string p = $"dense{d}";
            int o1;
            if (d == 0)
            {
                int conv = g.Add($"{p}/conv0", new Conv2dOp(3, c, (3, 3), (2, 2), (0, 0), (1, 1),
                    TfJsLayout.ConvFilter(w[$"{p}/conv0/filters"]), w[$"{p}/conv0/bias"].Data), x);
                o1 = g.Add($"{p}/relu0", new AddActOp(1, Activation.Relu), conv);
            }
            else o1 = g.Add($"{p}/conv0",
                Separable(w, $"{p}/conv0", cin, c, 2, Pad2d.Same(size, size, 3, 3, 2, 2), Activation.Relu), x);
            size = (size + 1) / 2;
            int o2 = g.Add($"{p}/conv1", Separable(w, $"{p}/conv1", c, c, 1, Pad2d.Uniform(1), Activation.None), o1);
            int in3 = g.Add($"{p}/sum2", new AddActOp(2, Activation.Relu), o1, o2);
            int o3 = g.Add($"{p}/conv2", Separable(w, $"{p}/conv2", c, c, 1, Pad2d.Uniform(1), Activation.None), in3);
            int in4 = g.Add($"{p}/sum3", new AddActOp(3, Activation.Relu), o1, o2, o3);
            int o4 = g.Add($"{p}/conv3", Separable(w, $"{p}/conv3", c, c, 1, Pad2d.Uniform(1), Activation.None), in4);
            x = g.Add($"{p}/sum4", new AddActOp(4, Activation.Relu), o1, o2, o3, o4);
            cin = c;
        }
        // avgPool 7×7, stride 2, 'valid' on a 7×7 map is the mean over the map.
        x = g.Add("pool/view", new ReshapeOp(-1, 1, size, size, cin), x);
        x = g.Add("pool", new AvgPool3dOp(), x);
        g.Outputs["pooled"] = x;
        int logits = g.Add("fc", new LinearOp(cin, 7, TfJsLayout.Matrix(w["fc/weights"]), w["fc/bias"].Data), x);
        g.Outputs["logits"] = logits;
        g.Outputs["probabilities"] = g.Add("softmax", new SoftmaxOp(), logits);
        return g;
    }

    internal static SepConv2dOp Separable(StateDict w, string p, int cin, int cout, int stride, Pad2d pad,
        Activation act) =>
        new(cin, (3, 3), (stride, stride), pad, TfJsLayout.DepthwiseFilter(w[$"{p}/depthwise_filter"]),
            TfJsLayout.Matrix(w[$"{p}/pointwise_filter"]), cout, w[$"{p}/bias"].Data, act);

    /// <summary>
    /// The graph input for one 112×112 RGB face (pixel values 0..255, interleaved; fractional after
    /// resizing, as TF.js keeps them): <c>(pixel − mean)/255</c> channels-last, with the zero row and
    /// column of TF's 'same' padding appended: [113, 113, 3] written at <paramref name="dst"/>.
    /// </summary>
    public static void Prepare(ReadOnlySpan<float> rgb112, Span<float> dst)
    {
        if (rgb112.Length != Size * Size * 3) throw new ArgumentException($"expected a {Size}x{Size} RGB image");
        if (dst.Length != PaddedSize * PaddedSize * 3)
            throw new ArgumentException($"expected room for [{PaddedSize}, {PaddedSize}, 3]");
        dst.Clear();
        for (int y = 0; y < Size; y++)
            for (int x = 0; x < Size; x++)
                for (int c = 0; c < 3; c++)
                    dst[(y * PaddedSize + x) * 3 + c] = (float)((rgb112[(y * Size + x) * 3 + c] - MeanRgb[c]) / 255.0);
    }
}
