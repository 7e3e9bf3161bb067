namespace Dfer.Ops.Gate;

/// <summary>
/// Gating: <c>y = x · act(z)</c> elementwise, where z has x's shape or is broadcast over x's middle axes: for x
/// <c>[B, …, D]</c>, z <c>[B, D]</c> multiplies every <c>x[b, …, :]</c>. RDFER's heads use it twice
/// (docs/models/rdfer.md, steps 3 and 6): the attention gate <c>g = ori · σ(LayerNorm(…))</c> (same shape, sigmoid),
/// and DNet's instances times SNet's attention vector (broadcast, no activation).
/// </summary>
public sealed class GateOp : Op
{
    public GateOp(Activation activation = Activation.Sigmoid) { Act = activation; }

    /// <summary>What is applied to z before the product.</summary>
    public Activation Act { get; }

    public override OpKind Kind => GateKind.Instance;
    public override int InputCount => 2;

    /// <summary>Whether z (<paramref name="z"/>) is broadcast over x's middle axes rather than of x's shape.</summary>
    public static bool Broadcasts(int[] x, int[] z) => !x.SequenceEqual(z);

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        int[] x = inputs[0], z = inputs[1];
        bool broadcast = x.Length >= 2 && z.Length == 2 && z[0] == x[0] && z[1] == x[^1];
        if (!x.SequenceEqual(z) && !broadcast)
            throw ShapeError(Kind,
                $"z must have x's shape {Tensors.Tensor.FormatShape(x)} or be [{(x.Length > 0 ? x[0] : 0)}, "
                + $"{(x.Length > 0 ? x[^1] : 0)}]", z);
        return (int[])x.Clone();
    }

    /// <summary>The product per output value, and the activation's arithmetic on each z (4 for the sigmoid: negate,
    /// exp, add, divide; 1 otherwise).</summary>
    public override long Flops(IReadOnlyList<int[]> inputs) =>
        Tensors.Tensor.ElementCountOf(OutputShape(inputs))
        + (Act == Activation.None ? 0 : (Act == Activation.Sigmoid ? 4 : 1)) * Tensors.Tensor.ElementCountOf(inputs[1]);
}
