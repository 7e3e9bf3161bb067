using Dfer.Primitives;

namespace Dfer.Ops.TokenMaxPool;

/// <summary>
/// MViT's <c>pool_skip</c> on a token sequence with a class token (docs/models/ifdd.md §3.3 step 9): input
/// <c>[B, 1 + T·H·W, C]</c> → <c>[B, 1 + T'·H'·W', C]</c>. Token 0 is copied unchanged; tokens 1.. (t-major,
/// then h, then w) are viewed as a channels-last volume <c>[T, H, W, C]</c>, max-pooled over the window
/// <see cref="Pool"/> (−∞ padding, NaN propagates) and flattened back. No parameters.
/// </summary>
public sealed class TokenMaxPoolOp : Op
{
    /// <summary>Pools the grid with kernel, stride and padding triples (t, h, w), as maxpool3d does.</summary>
    public TokenMaxPoolOp((int T, int H, int W) grid, (int T, int H, int W) kernel, (int T, int H, int W) stride,
        (int T, int H, int W) pad)
    {
        if (grid.T < 1 || grid.H < 1 || grid.W < 1)
            throw new ArgumentException($"tokenmaxpool grid {grid} must be positive on every axis");
        if ((long)grid.T * grid.H * grid.W >= int.MaxValue) throw new ArgumentException("tokenmaxpool: grid too large");
        Pool = new Pool3dGeometry(kernel, stride, pad, "tokenmaxpool");
        Grid = grid;
        OutGrid = Pool.OutGrid(grid.T, grid.H, grid.W)
            ?? throw ShapeError(Kind, "grid is smaller than the kernel", new[] { 1, grid.T, grid.H, grid.W, 1 });
    }

    /// <summary>The token grid of the input (tokens 1..).</summary>
    public (int T, int H, int W) Grid { get; }
    /// <summary>The pooled extents of <see cref="Grid"/>.</summary>
    public (int T, int H, int W) OutGrid { get; }
    /// <summary>The pooling window over the grid.</summary>
    public Pool3dGeometry Pool { get; }

    /// <summary>Input tokens per batch item, class token included.</summary>
    public int InTokens => 1 + Grid.T * Grid.H * Grid.W;
    /// <summary>Output tokens per batch item, class token included.</summary>
    public int OutTokens => 1 + OutGrid.T * OutGrid.H * OutGrid.W;

    public override OpKind Kind => TokenMaxPoolKind.Instance;
    public override int InputCount => 1;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        var x = inputs[0];
        if (x.Length != 3 || x[0] < 1 || x[1] != InTokens || x[2] < 1)
            throw ShapeError(Kind, $"expects [B, {InTokens}, C] (1 + {Grid.T}·{Grid.H}·{Grid.W} tokens)", x);
        return new[] { x[0], OutTokens, x[2] };
    }

    /// <summary>One comparison per window element of every pooled output (border windows counted whole); the class
    /// token's copy is free.</summary>
    public override long Flops(IReadOnlyList<int[]> inputs)
    {
        int[] y = OutputShape(inputs);
        return (long)y[0] * OutGrid.T * OutGrid.H * OutGrid.W * y[2] * Pool.WindowSize;
    }
}
