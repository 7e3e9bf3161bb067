namespace Dfer.Ops.Gelu;

/// <summary>Exact (erf) GELU, elementwise on any shape: <c>y = 0.5 · x · (1 + erf(x / √2))</c>.</summary>
public sealed class GeluOp : Op
{
    public override OpKind Kind => GeluKind.Instance;
    public override int InputCount => 1;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        return (int[])inputs[0].Clone();
    }

    // The scaling, erf's polynomial (about a dozen multiply-adds) and the final products; a rough count.
    public override long Flops(IReadOnlyList<int[]> inputs) => 20 * Tensors.Tensor.ElementCountOf(inputs[0]);
}
