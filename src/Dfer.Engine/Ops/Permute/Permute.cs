namespace Dfer.Ops.Permute;

/// <summary>
/// Layout change: view the input as <see cref="ViewShape"/> (row-major, one −1 allowed), permute
/// its axes (output axis i is view axis <c>Axes[i]</c>), then view the result as
/// <see cref="OutShape"/> (one −1 allowed). M3DFEL uses it to cut a clip [B,16,3,H,W] into four
/// channels-last instances [B·4, 4, H, W, 3].
/// </summary>
public sealed class PermuteOp : Op
{
    public PermuteOp(int[] viewShape, int[] axes, int[] outShape)
    {
        if (axes.Length != viewShape.Length || axes.OrderBy(a => a).Where((a, i) => a != i).Any())
            throw new ArgumentException("permute axes must be a permutation of the view's axes");
        ViewShape = viewShape; Axes = axes; OutShape = outShape;
    }

    public int[] ViewShape { get; }
    public int[] Axes { get; }
    public int[] OutShape { get; }

    public override OpKind Kind => PermuteKind.Instance;
    public override int InputCount => 1;

    /// <summary>The input viewed as <see cref="ViewShape"/> with -1 resolved.</summary>
    public int[] ResolvedView(int[] input) => ResolveView(ViewShape, Tensors.Tensor.ElementCountOf(input), Kind, input);

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        var v = ResolvedView(inputs[0]);
        return ResolveView(OutShape, Tensors.Tensor.ElementCountOf(v), Kind, inputs[0]);
    }

}
