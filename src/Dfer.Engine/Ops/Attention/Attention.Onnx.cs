using Dfer.Onnx;

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
            string rows = OnnxBlocks.Slice(graph, name + "_rows", inputs[0], 2, (long)i * d, (long)(i + 1) * d);
            return OnnxBlocks.SplitHeads(graph, name, rows, op.Heads, op.HeadDim);
        }
        string q = Part("q", 0), k = Part("k", 1), v = Part("v", 2);
        OnnxBlocks.MergeHeads(graph, OnnxBlocks.Attend(graph, q, k, v, op.Scale), op.Dim, output);
    }



}
