namespace Dfer.Ops.Add;

/// <summary>Elementwise sum of two equal-shaped tensors, <c>y = a + b</c> (IFDD's residual connections).</summary>
public sealed class AddOp : Op
{
    public override OpKind Kind => AddKind.Instance;
    public override int InputCount => 2;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        if (inputs[0].Length < 1) throw ShapeError(Kind, "expects a tensor of rank 1 or more", inputs[0]);
        if (!inputs[0].SequenceEqual(inputs[1]))
            throw ShapeError(Kind, $"inputs must have equal shapes; first is {Tensors.Tensor.FormatShape(inputs[0])}",
                inputs[1]);
        return (int[])inputs[0].Clone();
    }

    /// <summary>One addition per output value.</summary>
    public override long Flops(IReadOnlyList<int[]> inputs) => Tensors.Tensor.ElementCountOf(OutputShape(inputs));
}
