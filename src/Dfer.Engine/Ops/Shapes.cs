namespace Dfer.Ops;

/// <summary>Shape arithmetic several ops share (views, sliding windows), so no op borrows it from another op's
/// folder.</summary>
public abstract partial class Op
{
    /// <summary>
    /// <paramref name="shape"/> with its one −1 (if any) inferred from <paramref name="count"/> elements;
    /// throws the op's shape error naming <paramref name="from"/> when the elements do not fit.
    /// </summary>
    internal static int[] ResolveView(int[] shape, long count, OpKind kind, int[] from)
    {
        var result = (int[])shape.Clone();
        int infer = Array.IndexOf(result, -1);
        long known = 1;
        for (int i = 0; i < result.Length; i++) if (i != infer) known *= result[i];
        if (infer >= 0)
        {
            if (known == 0 || count % known != 0)
                throw ShapeError(kind, $"cannot view as {Tensors.Tensor.FormatShape(shape)}", from);
            result[infer] = (int)(count / known);
        }
        else if (known != count) throw ShapeError(kind, $"cannot view as {Tensors.Tensor.FormatShape(shape)}", from);
        return result;
    }

    /// <summary>Output length of a sliding window of size k, stride s, zero padding p on each side.</summary>
    public static int OutExtent(int size, int k, int s, int p) => (size + 2 * p - k) / s + 1;
}
