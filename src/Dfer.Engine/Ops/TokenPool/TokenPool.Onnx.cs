using Dfer.Onnx;

namespace Dfer.Ops.TokenPool;

/// <summary>
/// tokenpool in ONNX on X [B, 1 + T·H·W, parts·heads·d]:
/// <list type="number">
/// <item>this part's channels [part·heads·d, (part + 1)·heads·d) sliced off and split per head:
/// [B, heads, 1 + T·H·W, d];</item>
/// <item>token 0 (the class token) sliced off and kept; tokens 1.. reshaped to the channels-last volumes
/// [B·heads, T, H, W, d], transposed to [B·heads, d, T, H, W];</item>
/// <item>the depthwise convolution as Conv with group = d, weights [d, 1, kT, kH, kW] (PyTorch's order),
/// the bias where there is one, pads and strides;</item>
/// <item>transposed back and flattened (t-major) to [B, heads, T'·H'·W', d], the class token concatenated
/// in front, LayerNormalization over d.</item>
/// </list>
/// </summary>
internal sealed class TokenPoolOnnx(TokenPoolOp op) : IOnnxForm
{
    public void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output)
    {
        int heads = op.Heads, d = op.HeadDim;
        long width = (long)heads * d;
        var (t, h, w) = op.Grid;
        var conv = op.Conv;
        string part = OnnxBlocks.Slice(graph, "part", inputs[0], 2, op.Part * width, (op.Part + 1) * width);
        string perHead = OnnxBlocks.SplitHeads(graph, "part", part, heads, d);
        string cls = OnnxBlocks.Slice(graph, "class_token", perHead, 2, 0, 1);
        string rest = OnnxBlocks.Slice(graph, "tokens", perHead, 2, 1, op.InTokens);
        string vol = graph.Node("Reshape", "volume", new[] { rest, graph.Int64s("volume_shape", -1, t, h, w, d) });
        string ncthw = graph.Node("Transpose", "ncthw", new[] { vol }, OnnxAttribute.Ints("perm", 0, 4, 1, 2, 3));
        var (kt, kh, kw) = conv.Kernel;
        var convInputs = new List<string> { ncthw, graph.Floats("pool_weight", conv.Weight, d, 1, kt, kh, kw) };
        if (conv.Bias is not null) convInputs.Add(graph.Floats("pool_bias", conv.Bias, d));
        string pooled = graph.Node("Conv", "pooled", convInputs.ToArray(),
            OnnxAttribute.Ints("kernel_shape", kt, kh, kw),
            OnnxAttribute.Ints("strides", conv.Stride.T, conv.Stride.H, conv.Stride.W),
            OnnxAttribute.Ints("pads", conv.Pad.T, conv.Pad.H, conv.Pad.W, conv.Pad.T, conv.Pad.H, conv.Pad.W),
            OnnxAttribute.Ints("dilations", 1, 1, 1),
            OnnxAttribute.Int("group", d));
        string nthwc = graph.Node("Transpose", "nthwc", new[] { pooled }, OnnxAttribute.Ints("perm", 0, 2, 3, 4, 1));
        string tokens = graph.Node("Reshape", "pooled_tokens",
            new[] { nthwc, graph.Int64s("tokens_shape", -1, heads, op.OutTokens - 1, d) });
        string joined = graph.Node("Concat", "joined", new[] { cls, tokens }, OnnxAttribute.Int("axis", 2));
        OnnxBlocks.LayerNorm(graph, op.Norm, joined, output);
    }
}
