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
        return Resolve(Shape, Tensors.Tensor.ElementCountOf(inputs[0]), Kind, inputs[0]);
    }

    /// <summary>Fills in a −1 dimension so the shape holds <paramref name="count"/> elements.</summary>
    internal static int[] Resolve(int[] shape, long count, OpKind kind, int[] from)
    {
        var result = (int[])shape.Clone();
        int infer = Array.IndexOf(result, -1);
        long known = 1;
        for (int i = 0; i < result.Length; i++) if (i != infer) known *= result[i];
        if (infer >= 0)
        {
            if (known == 0 || count % known != 0) throw ShapeError(kind, $"cannot view as {Tensors.Tensor.FormatShape(shape)}", from);
            result[infer] = (int)(count / known);
        }
        else if (known != count) throw ShapeError(kind, $"cannot view as {Tensors.Tensor.FormatShape(shape)}", from);
        return result;
    }

}
