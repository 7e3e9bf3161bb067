using Dfer.Onnx;

namespace Dfer.Ops.Slice;

/// <summary>slice in ONNX: one Slice on the op's axis, [start, start + length), step 1.</summary>
internal sealed class SliceOnnx(SliceOp op) : IOnnxForm
{
    public void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output) =>
        Range(graph, inputs[0], op.Axis, op.Start, op.Start + op.Length, output);

    /// <summary>Writes <c>input[..., start:end, ...]</c> on <paramref name="axis"/> (negative axes count from the
    /// end) into <paramref name="output"/>; the other ops' forms use it to take token and channel ranges.</summary>
    public static void Range(OnnxGraphBuilder graph, string input, long axis, long start, long end, string output) =>
        graph.Node("Slice", new[]
        {
            input, graph.Int64s("starts", start), graph.Int64s("ends", end), graph.Int64s("axes", axis),
        }, new[] { output });

    /// <summary><see cref="Range(OnnxGraphBuilder, string, long, long, long, string)"/> into a fresh value
    /// <paramref name="local"/>.</summary>
    public static string Range(OnnxGraphBuilder graph, string local, string input, long axis, long start, long end)
    {
        string output = graph.Value(local);
        Range(graph, input, axis, start, end, output);
        return output;
    }
}
