using Dfer.Onnx;
using Dfer.Primitives;

namespace Dfer.Ops.LayerNorm;

/// <summary>
/// layernorm in ONNX: one LayerNormalization over the last axis (axis −1, biased variance, the op's epsilon,
/// its weight as Scale and bias as B), the op opset 17 introduced.
/// </summary>
internal sealed class LayerNormOnnx(LayerNormOp op) : IOnnxForm
{
    public void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output) =>
        Normalize(graph, op.Weights, inputs[0], output);

    /// <summary>Writes <paramref name="norm"/> applied over the last axis of <paramref name="input"/> into
    /// <paramref name="output"/>; the tokenpool and lifting forms use it too.</summary>
    public static void Normalize(OnnxGraphBuilder graph, LayerNormWeights norm, string input, string output) =>
        graph.Node("LayerNormalization", new[]
        {
            input, graph.Floats("norm_weight", norm.Weight, norm.Channels),
            graph.Floats("norm_bias", norm.Bias, norm.Channels),
        }, new[] { output }, OnnxAttribute.Int("axis", -1), OnnxAttribute.Float("epsilon", (float)norm.Eps));

    /// <summary><see cref="Normalize(OnnxGraphBuilder, LayerNormWeights, string, string)"/> into a fresh value
    /// <paramref name="local"/>.</summary>
    public static string Normalize(OnnxGraphBuilder graph, string local, LayerNormWeights norm, string input)
    {
        string output = graph.Value(local);
        Normalize(graph, norm, input, output);
        return output;
    }
}
