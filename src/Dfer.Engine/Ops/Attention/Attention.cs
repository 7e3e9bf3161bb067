namespace Dfer.Ops.Attention;

/// <summary>
/// Multi-head self-attention on packed projections: qkv [B, L, 3·heads·d] holds q, k, v in that
/// order, each head-major. <c>y[b,l,h·d+j] = Σ_m softmax_m(q_l·k_m · scale) v[m, h·d+j]</c>; → [B, L, heads·d].
/// </summary>
public sealed class AttentionOp : Op
{
    public AttentionOp(int heads, int headDim, double? scale = null)
    {
        Heads = heads; HeadDim = headDim; Scale = scale ?? 1.0 / Math.Sqrt(headDim);
    }

    public int Heads { get; }
    public int HeadDim { get; }
    public double Scale { get; }
    public int Dim => Heads * HeadDim;

    public override OpKind Kind => AttentionKind.Instance;
    public override int InputCount => 1;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        var x = inputs[0];
        if (x.Length != 3 || x[2] != 3 * Dim) throw ShapeError(Kind, $"expects [B, L, {3 * Dim}]", x);
        return new[] { x[0], x[1], Dim };
    }

    public override long Flops(IReadOnlyList<int[]> inputs)
    {
        var x = inputs[0];
        return 2L * 2 * x[0] * Heads * (long)x[1] * x[1] * HeadDim;
    }

}
