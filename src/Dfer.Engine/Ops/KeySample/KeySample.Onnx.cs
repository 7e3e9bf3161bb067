using Dfer.Onnx;

namespace Dfer.Ops.KeySample;

/// <summary>
/// keysample in ONNX, elementwise float32 nodes in the op's order, one rounding each (no node fuses two):
/// <c>c = Add(Div(Mul(μ, T−1), 2), (T−1)/2)</c> and <c>s = Mul(T/3, Exp(δ))</c> on [B, K]; both reshaped to
/// [B, K, 1] (the batch copied) so that <c>p = Add(c, Mul(offsets, s))</c> broadcasts the G offsets
/// <c>g − (G−1)/2</c> into [B, K, G]; <c>k = Ceil(p)</c>, kept where <c>0 ≤ k ≤ T−1</c> and −1 elsewhere (Where;
/// NaN fails both comparisons, so it gives −1 too); reshaped to [B, K·G], key-major. The indices are chosen by this
/// formula, not by ranking scores, so no tie rule applies. Exp is ONNX Runtime's, which may differ from .NET's
/// MathF.Exp by an ulp; the index then differs only where p falls within an ulp of an integer (the op's doc).
/// </summary>
internal sealed class KeySampleOnnx(KeySampleOp op) : IOnnxForm
{
    public void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output)
    {
        string scaled = graph.Node("Mul", "scaled", new[] { inputs[0], graph.Scalar("span", op.Span) });
        string half = graph.Node("Div", "half", new[] { scaled, graph.Scalar("two", 2f) });
        string centre = graph.Node("Add", "centre", new[] { half, graph.Scalar("middle", op.Middle) });
        string exp = graph.Node("Exp", "exp", new[] { inputs[1] });
        string stride = graph.Node("Mul", "stride", new[] { graph.Scalar("stride_scale", op.StrideScale), exp });
        string column = graph.Int64s("column", 0, 0, 1);
        var offsets = Enumerable.Range(0, op.PerKey).Select(op.Offset).ToArray();
        string step = graph.Node("Mul", "step",
            new[] { graph.Floats("offsets", offsets, op.PerKey), graph.ReshapeTo(stride, column, "stride_column") });
        string position = graph.Node("Add", "position",
            new[] { graph.ReshapeTo(centre, column, "centre_column"), step });
        string frame = graph.Node("Ceil", "frame", new[] { position });
        string inClip = graph.Node("And", "in_clip", new[]
        {
            graph.Node("GreaterOrEqual", "from_first", new[] { frame, graph.Scalar("first", 0f) }),
            graph.Node("LessOrEqual", "to_last", new[] { frame, graph.Scalar("last", op.Frames - 1) }),
        });
        string index = graph.Node("Where", "index", new[] { inClip, frame, graph.Scalar("black", -1f) });
        graph.Node("Reshape", new[] { index, graph.Int64s("keys_by_frames", 0, -1) }, new[] { output });
    }
}
