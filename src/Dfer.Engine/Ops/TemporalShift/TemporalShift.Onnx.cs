using Dfer.Onnx;

namespace Dfer.Ops.TemporalShift;

/// <summary>
/// temporalshift in ONNX, from the shapes at run time (the op knows its group and divisor, not the channels):
/// x <c>[frames, …, C]</c> reshaped to <c>[frames/G, G, …, C]</c>; <c>fold = C / FoldDiv</c> (int64 Div, which
/// truncates as the op does) splits the channels by three Slices into <c>[0, fold)</c>, <c>[fold, 2·fold)</c> and the
/// rest. The first part takes the next frame: its frames 1..G−1 (Slice on the group axis) then zeros (ConstantOfShape
/// of one frame's shape), Concat on the group axis; the second takes the previous frame: zeros then its frames
/// 0..G−2; the rest stays. The parts are concatenated back on the channel axis and reshaped to x's shape. A group of
/// one frame has no neighbour: both shifted parts are zeros. Fewer channels than the divisor give empty folds, which
/// Slice and Concat carry through.
/// </summary>
internal sealed class TemporalShiftOnnx(TemporalShiftOp op) : IOnnxForm
{
    public void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output)
    {
        string x = inputs[0];
        string groupsShape = graph.Node("Concat", "groups_shape",
            new[] { graph.Int64s("groups", -1, op.Group), graph.ShapeOf(x, 1) }, OnnxAttribute.Int("axis", 0));
        string groups = graph.ReshapeTo(x, groupsShape, "grouped");
        string fold = graph.Node("Div", "fold", new[] { graph.ShapeOf(x, -1), graph.Int64s("fold_div", op.FoldDiv) });
        string twoFolds = graph.Node("Add", "two_folds", new[] { fold, fold });
        string channelAxis = graph.Int64s("channel_axis", -1), groupAxis = graph.Int64s("group_axis", 1);
        string Slice(string input, string start, string end, string axis, string local) =>
            graph.Node("Slice", local, new[] { input, start, end, axis });
        string zero = graph.Int64s("zero", 0), end = graph.Int64s("end", long.MaxValue);
        string next = Slice(groups, zero, fold, channelAxis, "next_fold");
        string previous = Slice(groups, fold, twoFolds, channelAxis, "previous_fold");
        string kept = Slice(groups, twoFolds, end, channelAxis, "kept");
        string fromNext, fromPrevious;
        if (op.Group == 1)
        {
            fromNext = graph.ZerosLike(next);
            fromPrevious = graph.ZerosLike(previous);
        }
        else
        {
            string one = graph.Int64s("one", 1), last = graph.Int64s("last", op.Group - 1);
            string Zeros(string part) => graph.ZerosLike(Slice(part, zero, one, groupAxis, "one_frame"));
            fromNext = graph.Node("Concat", "from_next",
                new[] { Slice(next, one, end, groupAxis, "later"), Zeros(next) }, OnnxAttribute.Int("axis", 1));
            fromPrevious = graph.Node("Concat", "from_previous",
                new[] { Zeros(previous), Slice(previous, zero, last, groupAxis, "earlier") },
                OnnxAttribute.Int("axis", 1));
        }
        string shifted = graph.Node("Concat", "shifted", new[] { fromNext, fromPrevious, kept },
            OnnxAttribute.Int("axis", -1));
        graph.Node("Reshape", new[] { shifted, graph.ShapeOf(x) }, new[] { output });
    }
}
