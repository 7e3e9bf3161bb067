using Dfer.Onnx;

namespace Dfer.Ops.TokenMaxPool;

/// <summary>
/// tokenmaxpool in ONNX on x [B, 1 + T·H·W, C]: token 0 sliced off and kept; tokens 1.. reshaped to the
/// channels-last volume [B, T, H, W, C] (B copied, C inferred), transposed to [B, C, T, H, W], MaxPool with the op's
/// kernel, strides and pads (padded positions never win, as −∞ padding), transposed back and flattened to
/// [B, T'·H'·W', C]; the class token concatenated in front on axis 1.
/// </summary>
internal sealed class TokenMaxPoolOnnx(TokenMaxPoolOp op) : IOnnxForm
{
    public void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output)
    {
        string x = inputs[0];
        var (t, h, w) = op.Grid;
        var g = op.Pool;
        string cls = OnnxBlocks.Slice(graph, "class_token", x, 1, 0, 1);
        string rest = OnnxBlocks.Slice(graph, "tokens", x, 1, 1, op.InTokens);
        string vol = graph.Node("Reshape", "volume", new[] { rest, graph.Int64s("volume_shape", 0, t, h, w, -1) });
        string ncthw = graph.Node("Transpose", "ncthw", new[] { vol }, OnnxAttribute.Ints("perm", 0, 4, 1, 2, 3));
        string pooled = graph.Node("MaxPool", "pooled", new[] { ncthw },
            OnnxAttribute.Ints("kernel_shape", g.Kernel.T, g.Kernel.H, g.Kernel.W),
            OnnxAttribute.Ints("strides", g.Stride.T, g.Stride.H, g.Stride.W),
            OnnxAttribute.Ints("pads", g.Pad.T, g.Pad.H, g.Pad.W, g.Pad.T, g.Pad.H, g.Pad.W));
        string nthwc = graph.Node("Transpose", "nthwc", new[] { pooled }, OnnxAttribute.Ints("perm", 0, 2, 3, 4, 1));
        var (to, ho, wo) = op.OutGrid;
        string flat = graph.Node("Reshape", "pooled_tokens",
            new[] { nthwc, graph.Int64s("tokens_shape", 0, (long)to * ho * wo, -1) });
        graph.Node("Concat", new[] { cls, flat }, new[] { output }, OnnxAttribute.Int("axis", 1));
    }
}
