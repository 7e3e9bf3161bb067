using Dfer.Primitives;

namespace Dfer.Ops.TokenPool;

/// <summary>
/// MViTv2's <c>Pool</c> module on one part (q, k or v) of a packed qkv projection, with the class token
/// (docs/models/ifdd.md §3.3 step 3). Input X <c>[B, 1 + T·H·W, parts·heads·d]</c>, where channel
/// <c>part·heads·d + h·d + j</c> of a token is head h's j-th entry of this part. Per batch item and head:
/// the class token (token 0) is kept aside; tokens 1.. (t-major, then h, then w) form a channels-last
/// volume <c>[T, H, W, d]</c> that goes through the depthwise <see cref="Conv"/> (the same weights for
/// every head and batch item); the result is flattened back (t-major), the class token prepended, and
/// <see cref="Norm"/> applied over d to every token, the class token included.
/// Output <c>[B, heads, 1 + T'·H'·W', d]</c> with <c>(T', H', W')</c> = <see cref="OutGrid"/>.
/// </summary>
public sealed class TokenPoolOp : Op
{
    public TokenPoolOp(int parts, int part, int heads, (int T, int H, int W) grid, DepthwiseConv3dWeights conv,
        LayerNormWeights norm)
    {
        ArgumentNullException.ThrowIfNull(conv);
        ArgumentNullException.ThrowIfNull(norm);
        if (parts < 1) throw new ArgumentException($"tokenpool needs at least one part, got {parts}");
        if (part < 0 || part >= parts) throw new ArgumentException($"tokenpool part {part} is not in [0, {parts})");
        if (heads < 1) throw new ArgumentException($"tokenpool needs at least one head, got {heads}");
        if (grid.T < 1 || grid.H < 1 || grid.W < 1)
            throw new ArgumentException($"tokenpool grid {grid} must be positive on every axis");
        if (conv.Channels != norm.Channels)
            throw new ArgumentException(
                $"tokenpool: the conv has {conv.Channels} channels but the norm {norm.Channels}");
        if ((long)parts * heads * conv.Channels > int.MaxValue || (long)grid.T * grid.H * grid.W >= int.MaxValue)
            throw new ArgumentException("tokenpool: channels or grid too large");
        OutGrid = conv.OutGrid(grid.T, grid.H, grid.W)
            ?? throw ShapeError(Kind, "grid is smaller than the conv's kernel",
            new[] { 1, grid.T, grid.H, grid.W, conv.Channels });
        Parts = parts; Part = part; Heads = heads; Grid = grid; Conv = conv; Norm = norm;
    }

    public int Parts { get; }
    public int Part { get; }
    public int Heads { get; }
    /// <summary>The token grid of the input (tokens 1..).</summary>
    public (int T, int H, int W) Grid { get; }
    /// <summary>The conv output extents of <see cref="Grid"/>.</summary>
    public (int T, int H, int W) OutGrid { get; }
    public DepthwiseConv3dWeights Conv { get; }
    public LayerNormWeights Norm { get; }

    /// <summary>d: entries per head.</summary>
    public int HeadDim => Conv.Channels;
    /// <summary>Input tokens per batch item, class token included: 1 + T·H·W.</summary>
    public int InTokens => 1 + Grid.T * Grid.H * Grid.W;
    /// <summary>Output tokens per batch item and head, class token included: 1 + T'·H'·W'.</summary>
    public int OutTokens => 1 + OutGrid.T * OutGrid.H * OutGrid.W;
    /// <summary>Channels of an input token: parts·heads·d.</summary>
    public int InChannels => Parts * Heads * HeadDim;

    public override OpKind Kind => TokenPoolKind.Instance;
    public override int InputCount => 1;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        var x = inputs[0];
        if (x.Length != 3 || x[0] < 1 || x[1] != InTokens || x[2] != InChannels)
            throw ShapeError(Kind,
                $"expects [B, {InTokens}, {InChannels}] (1 + {Grid.T}·{Grid.H}·{Grid.W} tokens "
                + $"of {Parts}·{Heads}·{HeadDim} channels)", x);
        return new[] { x[0], Heads, OutTokens, HeadDim };
    }

    public override long WeightElements => Conv.WeightElements + Norm.WeightElements;

    /// <summary>The conv's count on the B·heads volumes plus the norm's on every output token.</summary>
    public override long Flops(IReadOnlyList<int[]> inputs)
    {
        int[] y = OutputShape(inputs);
        // The conv sees every (batch item, head) as one volume of a batch.
        long pooled = (long)y[0] * Heads * OutGrid.T * OutGrid.H * OutGrid.W * HeadDim;
        return Conv.Flops(pooled) + LayerNormWeights.Flops(Tensors.Tensor.ElementCountOf(y));
    }

    /// <summary>This part's slice of X (the kernels read no other channel), the output and the weights, once
    /// each.</summary>
    public override long Bytes(IReadOnlyList<int[]> inputs)
    {
        int[] y = OutputShape(inputs);
        long read = (long)y[0] * InTokens * Heads * HeadDim;
        return sizeof(float) * (read + Tensors.Tensor.ElementCountOf(y) + WeightElements);
    }
}
