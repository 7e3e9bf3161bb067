using Dfer.Onnx;

namespace Dfer.Ops.AdaptiveSplit;

/// <summary>
/// issm (the adaptive split) in ONNX, from the data as the op defines it, on F [B, T, M]:
/// <c>S = MatMul(F, Fᵀ) · (±similarityScale)</c> (the sign folded into the constant for the detail branch),
/// Softmax over each row, P flattened to [B, T·T] (column i·T + j), MatMul by Wᵀ [T·T, K], Tanh, · offsetScale,
/// + the base indices [K] → [B, K].
/// </summary>
internal sealed class AdaptiveSplitOnnx(AdaptiveSplitOp op) : IOnnxForm
{
    public void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output)
    {
        int t = op.Frames, k = op.Count, tt = t * t;
        string f = inputs[0];
        string ft = graph.Node("Transpose", "f_t", new[] { f }, OnnxAttribute.Ints("perm", 0, 2, 1));
        double scale = op.Negate ? -op.SimilarityScale : op.SimilarityScale;
        string s = graph.Node("Mul", "similarity",
            new[] { graph.Node("MatMul", "gram", new[] { f, ft }), graph.Scalar("similarity_scale", (float)scale) });
        string p = graph.Node("Softmax", "p", new[] { s }, OnnxAttribute.Int("axis", -1));
        string flat = graph.Node("Reshape", "p_flat", new[] { p, graph.Int64s("p_shape", 0, tt) });
        var wt = new float[(long)tt * k];
        for (int ki = 0; ki < k; ki++)
            for (int e = 0; e < tt; e++) wt[(long)e * k + ki] = op.OffsetWeight[(long)ki * tt + e];
        string acc = graph.Node("MatMul", "offset_logits", new[] { flat, graph.Floats("offset_weight_t", wt, tt, k) });
        string off = graph.Node("Mul", "offset",
            new[] { graph.Node("Tanh", "tanh", new[] { acc }), graph.Scalar("offset_scale", (float)op.OffsetScale) });
        graph.Node("Add", new[] { off, graph.Floats("base_index", op.BaseIndex, k) }, new[] { output });
    }
}
