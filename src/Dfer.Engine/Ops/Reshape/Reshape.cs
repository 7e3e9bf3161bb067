namespace Dfer.Ops.Reshape;

/// <summary>Same elements in row-major order, another shape; one dimension may be −1 (inferred).</summary>
public sealed class ReshapeOp : Op
{
    public ReshapeOp(params int[] shape) { Shape = shape; }

    public int[] Shape { get; }

    /// <summary>A reshape is a view of its input: backends alias it and move nothing.</summary>
    public override long Bytes(IReadOnlyList<int[]> inputs) => 0;

    public override OpKind Kind => ReshapeKind.Instance;
    public override int InputCount => 1;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        return ResolveView(Shape, Tensors.Tensor.ElementCountOf(inputs[0]), Kind, inputs[0]);
    }

}
