using Dfer.Tensors;

namespace Dfer.Ops.TemporalShift;

/// <summary>
/// TSM's temporal shift ("blockres", RDFER's backbone; docs/models/rdfer.md): the leading axis holds
/// consecutive groups of <see cref="Group"/> frames, each shifted on its own. With
/// <c>fold = C / <see cref="FoldDiv"/></c> over the last (channel) axis, channels <c>[0, fold)</c> of
/// frame t take frame t+1's values (the group's last frame gets zeros), channels <c>[fold, 2·fold)</c>
/// take frame t−1's (the first frame gets zeros), and the other channels stay. Input and output are
/// <c>[frames, ..., C]</c> (channels last, e.g. <c>[B·T, H, W, C]</c>).
/// </summary>
public sealed class TemporalShiftOp : Op
{
    public TemporalShiftOp(int group, int foldDiv = 8)
    {
        if (group < 1)
            throw new ArgumentOutOfRangeException(nameof(group), group, "a shift group holds at least one frame");
        if (foldDiv < 2)
            throw new ArgumentOutOfRangeException(nameof(foldDiv), foldDiv,
                "the fold divisor must be at least 2 (two folds shift)");
        Group = group;
        FoldDiv = foldDiv;
    }

    /// <summary>Frames per shift group (RDFER: 4).</summary>
    public int Group { get; }

    /// <summary>Channels per fold are C / FoldDiv (TSM: 8).</summary>
    public int FoldDiv { get; }

    public override OpKind Kind => TemporalShiftKind.Instance;
    public override int InputCount => 1;

    /// <summary>Channels per shifted fold for <paramref name="channels"/> channels.</summary>
    public int Fold(int channels) => channels / FoldDiv;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        int[] x = inputs[0];
        if (x.Length < 2) throw ShapeError(Kind, "expects [frames, ..., channels]", x);
        if (x[0] % Group != 0) throw ShapeError(Kind, $"the frame count must be a multiple of the group of {Group}", x);
        return (int[])x.Clone();
    }
}
