namespace Dfer.Ops.Gate;

/// <summary>Sigmoid gating of two equal-shaped tensors: <c>y = a · σ(b)</c>.</summary>
public sealed class GateOp : Op
{
    public override OpKind Kind => GateKind.Instance;
    public override int InputCount => 2;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        if (!inputs[0].SequenceEqual(inputs[1])) throw ShapeError(Kind, $"inputs must have equal shapes; first is {Tensors.Tensor.FormatShape(inputs[0])}", inputs[1]);
        return (int[])inputs[0].Clone();
    }

    public override long Flops(IReadOnlyList<int[]> inputs) => 4 * Tensors.Tensor.ElementCountOf(inputs[0]);
}
