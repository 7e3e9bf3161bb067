using Dfer.Primitives;

namespace Dfer.Onnx;

/// <summary>
/// ONNX node patterns that several ops' forms share (a slice of one axis, a linear projection, a layer norm,
/// attention's head split, product and merge). Op folders never reference each other (docs/architecture.md), so what
/// two forms both write lives here, as <c>Primitives/</c> holds what two kernels share.
/// </summary>
public static class OnnxBlocks
{
    /// <summary>Writes <c>input[..., start:end, ...]</c> on <paramref name="axis"/> (negative axes count from the
    /// end) into <paramref name="output"/>; the forms of slice, attention and the token ops use it.</summary>
    public static void Slice(OnnxGraphBuilder graph, string input, long axis, long start, long end, string output) =>
        graph.Node("Slice", new[]
        {
            input, graph.Int64s("starts", start), graph.Int64s("ends", end), graph.Int64s("axes", axis),
        }, new[] { output });

    /// <summary><see cref="Slice(OnnxGraphBuilder, string, long, long, long, string)"/> into a fresh value
    /// <paramref name="local"/>.</summary>
    public static string Slice(OnnxGraphBuilder graph, string local, string input, long axis, long start, long end)
    {
        string output = graph.Value(local);
        Slice(graph, input, axis, start, end, output);
        return output;
    }

    /// <summary>Writes <c>input · Wᵀ + bias</c> of <paramref name="weights"/> into <paramref name="output"/>.</summary>
    public static void Linear(OnnxGraphBuilder graph, LinearWeights weights, string input, string output)
    {
        int n = weights.In, m = weights.Out;
        var wt = new float[(long)n * m];
        for (int o = 0; o < m; o++)
            for (int i = 0; i < n; i++) wt[(long)i * m + o] = weights.Weight[(long)o * n + i];
        string w = graph.Floats("weight_t", wt, n, m);
        if (weights.Bias is null)
        {
            graph.Node("MatMul", new[] { input, w }, new[] { output });
            return;
        }
        string product = graph.Node("MatMul", "matmul", new[] { input, w });
        graph.Node("Add", new[] { product, graph.Floats("bias", weights.Bias, m) }, new[] { output });
    }

    /// <summary><see cref="Linear(OnnxGraphBuilder, LinearWeights, string, string)"/> into a fresh value
    /// <paramref name="local"/>.</summary>
    public static string Linear(OnnxGraphBuilder graph, string local, LinearWeights weights, string input)
    {
        string output = graph.Value(local);
        Linear(graph, weights, input, output);
        return output;
    }

    /// <summary>Writes <paramref name="norm"/> applied over the last axis of <paramref name="input"/> into
    /// <paramref name="output"/>.</summary>
    public static void LayerNorm(OnnxGraphBuilder graph, LayerNormWeights norm, string input, string output) =>
        graph.Node("LayerNormalization", new[]
        {
            input, graph.Floats("norm_weight", norm.Weight, norm.Channels),
            graph.Floats("norm_bias", norm.Bias, norm.Channels),
        }, new[] { output }, OnnxAttribute.Int("axis", -1), OnnxAttribute.Float("epsilon", (float)norm.Eps));

    /// <summary><see cref="LayerNorm(OnnxGraphBuilder, LayerNormWeights, string, string)"/> into a fresh value
    /// <paramref name="local"/>.</summary>
    public static string LayerNorm(OnnxGraphBuilder graph, string local, LayerNormWeights norm, string input)
    {
        string output = graph.Value(local);
        LayerNorm(graph, norm, input, output);
        return output;
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
