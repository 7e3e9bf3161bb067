using Dfer.Onnx;

namespace Dfer.Ops.Lstm;

/// <summary>
/// lstm in ONNX: the batch-first input transposed to ONNX's [L, B, In] (layout 0, which every runtime
/// supports), one LSTM node per layer (direction "bidirectional" with both directions' weights, or
/// "forward"), each layer's Y [L, dirs, B, H] transposed and reshaped to [L, B, dirs·H] (forward half
/// first, as PyTorch concatenates), and the last one transposed back to [B, L, dirs·H].
/// </summary>
/// <remarks>
/// PyTorch stacks the gates i, f, g, o; ONNX stacks i, o, f, c (c is PyTorch's g), so each weight
/// matrix and bias is regrouped in that order. ONNX's B is [Wb, Rb]: b_ih then b_hh.
/// </remarks>
internal sealed class LstmOnnx(LstmOp op) : IOnnxForm
{
    /// <summary>PyTorch's gate block for each ONNX gate block: i, o, f, c ← i, f, g, o.</summary>
    private static readonly int[] GateFrom = { 0, 3, 1, 2 };

    public void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output)
    {
        int hid = op.Hidden, dirs = op.Directions;
        string x = graph.Node("Transpose", "time_major", new[] { inputs[0] }, OnnxAttribute.Ints("perm", 1, 0, 2));
        for (int l = 0; l < op.Layers.Length; l++)
        {
            int inSize = l == 0 ? op.InputSize : hid * dirs;
            var cells = op.Layers[l];
            string w = graph.Floats($"l{l}_W", Stack(cells.Select(c => c.Wih), hid, inSize), dirs, 4 * hid, inSize);
            string r = graph.Floats($"l{l}_R", Stack(cells.Select(c => c.Whh), hid, hid), dirs, 4 * hid, hid);
            var bias = cells.SelectMany(c => Regroup(c.Bih, hid, 1).Concat(Regroup(c.Bhh, hid, 1))).ToArray();
            string b = graph.Floats($"l{l}_B", bias, dirs, 8 * hid);
            string y = graph.Node("LSTM", $"l{l}_Y", new[] { x, w, r, b },
                OnnxAttribute.Int("hidden_size", hid),
                OnnxAttribute.String("direction", op.Bidirectional ? "bidirectional" : "forward"));
            string lbdh = graph.Node("Transpose", $"l{l}_lbdh", new[] { y }, OnnxAttribute.Ints("perm", 0, 2, 1, 3));
            // 0 copies L and B (ONNX's default Reshape semantics), the rest is dirs·H.
            x = graph.Node("Reshape", $"l{l}_out", new[] { lbdh, graph.Int64s($"l{l}_shape", 0, 0, dirs * hid) });
        }
        graph.Node("Transpose", new[] { x }, new[] { output }, OnnxAttribute.Ints("perm", 1, 0, 2));
    }

    private static float[] Stack(IEnumerable<float[]> matrices, int hid, int cols) =>
        matrices.SelectMany(m => Regroup(m, hid, cols)).ToArray();

    /// <summary>A [4·hid, cols] PyTorch gate stack regrouped in ONNX's gate order.</summary>
    private static float[] Regroup(float[] m, int hid, int cols)
    {
        long block = (long)hid * cols;
        var result = new float[m.Length];
        for (int g = 0; g < 4; g++)
            Array.Copy(m, GateFrom[g] * block, result, g * block, block);
        return result;
    }
}
