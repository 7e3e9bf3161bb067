namespace Dfer.Ops.Softmax;

/// <summary>Softmax over the last axis: <c>y_i = exp(x_i − max x) / Σ_j exp(x_j − max x)</c>.</summary>
public sealed class SoftmaxOp : Op
{
    public override OpKind Kind => SoftmaxKind.Instance;
    public override int InputCount => 1;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        if (inputs[0].Length < 1 || inputs[0][^1] < 1)
            throw ShapeError(Kind, "expects a non-empty last axis", inputs[0]);
        return (int[])inputs[0].Clone();
    }

    public override long Flops(IReadOnlyList<int[]> inputs) => 5 * Tensors.Tensor.ElementCountOf(inputs[0]);
}
