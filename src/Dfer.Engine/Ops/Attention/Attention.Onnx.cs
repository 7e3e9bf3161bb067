using Dfer.Onnx;
using Dfer.Ops.Slice;

namespace Dfer.Ops.Attention;

/// <summary>
/// attention in ONNX on qkv [B, L, 3·D] (D = heads·d): q, k and v sliced off the channels ([0, D), [D, 2D),
/// [2D, 3D)), each split per head (Reshape [B, L, heads, d], Transpose to [B, heads, L, d]);
/// <c>Softmax(MatMul(q, kᵀ) · scale) · v</c> per head; heads merged back (Transpose, Reshape to [B, L, D],
/// channel h·d + j).
/// </summary>
internal sealed class AttentionOnnx(AttentionOp op) : IOnnxForm
{
    public void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output)
    {
        int d = op.Dim;
        string Part(string name, int i)
        {
            string rows = SliceOnnx.Range(graph, name + "_rows", inputs[0], 2, (long)i * d, (long)(i + 1) * d);
            return SplitHeads(graph, name, rows, op.Heads, op.HeadDim);
        }
        string q = Part("q", 0), k = Part("k", 1), v = Part("v", 2);
        MergeHeads(graph, Attend(graph, q, k, v, op.Scale), op.Dim, output);
    }

    /// <summary>[B, N, heads·d] → [B, heads, N, d] (channel h·d + j is head h's j-th entry).</summary>
    public static string SplitHeads(OnnxGraphBuilder graph, string local, string input, int heads, int headDim)
    {
        string split = graph.Node("Reshape", local + "_split",
            new[] { input, graph.Int64s(local + "_shape", 0, 0, heads, headDim) });
        return graph.Node("Transpose", local + "_heads", new[] { split }, OnnxAttribute.Ints("perm", 0, 2, 1, 3));
    }

    /// <summary>[B, heads, N, d] → <paramref name="output"/> [B, N, heads·d].</summary>
    public static void MergeHeads(OnnxGraphBuilder graph, string input, int dim, string output)
    {
        string bnhd = graph.Node("Transpose", "merged", new[] { input }, OnnxAttribute.Ints("perm", 0, 2, 1, 3));
        graph.Node("Reshape", new[] { bnhd, graph.Int64s("merged_shape", 0, 0, dim) }, new[] { output });
    }

    /// <summary><c>Softmax(MatMul(q, kᵀ) · scale) · v</c> on [B, heads, N, d] values, softmax over the
    /// keys.</summary>
    public static string Attend(OnnxGraphBuilder graph, string q, string k, string v, double scale)
    {
        string kt = graph.Node("Transpose", "k_t", new[] { k }, OnnxAttribute.Ints("perm", 0, 1, 3, 2));
        string scores = graph.Node("Mul", "scores",
            new[] { graph.Node("MatMul", "qk", new[] { q, kt }), graph.Scalar("scale", (float)scale) });
        string weights = graph.Node("Softmax", "weights", new[] { scores }, OnnxAttribute.Int("axis", -1));
        return graph.Node("MatMul", "attended", new[] { weights, v });
    }
}
