using Dfer.Onnx;
using Dfer.Onnx.Proto;

namespace Dfer.Ops.FrameGather;

/// <summary>
/// framegather in ONNX. An index is a frame where <c>0 ≤ idx &lt; T</c> (GreaterOrEqual, Less and And against T read
/// from the clips' shape; NaN fails both); elsewhere it is replaced by 0 (Where) so that every Cast to int64 (which
/// truncates, as the op does) names a frame. The frames are gathered from clips [B, T, C, H, W]: indices from the
/// key sampler [B, K] by GatherND with batch_dims 1 (clip b's own frames), fixed indices [K] by Gather on the frame
/// axis (the same for every clip); either gives [B, K, C, H, W], where frames of out-of-clip indices are replaced by
/// zeros (Where, exact whatever the clip holds). Transposed to [B, K, H, W, C] and reshaped to [B·K, H, W, C].
/// </summary>
internal sealed class FrameGatherOnnx(FrameGatherOp op) : IOnnxForm
{
    public void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output)
    {
        string clips = inputs[0];
        string indices = op.Fixed is { } f
            ? graph.Floats("fixed", f.Select(i => (float)i).ToArray(), f.Length)
            : inputs[1];
        string frames = graph.Node("Cast", "frames", new[] { graph.ShapeOf(clips, 1, 2) },
            OnnxAttribute.Int("to", (long)TensorProto.Types.DataType.Float));
        string inClip = graph.Node("And", "in_clip", new[]
        {
            graph.Node("GreaterOrEqual", "from_first", new[] { indices, graph.Scalar("first", 0f) }),
            graph.Node("Less", "before_end", new[] { indices, frames }),
        });
        string safe = graph.Node("Where", "safe", new[] { inClip, indices, graph.Scalar("zero", 0f) });
        string frame = graph.Node("Cast", "frame", new[] { safe },
            OnnxAttribute.Int("to", (long)TensorProto.Types.DataType.Int64));
        string gathered, mask;
        if (op.Fixed is null)
        {
            string perClip = graph.ReshapeTo(frame, graph.Int64s("index_column", 0, 0, 1), "frame_column");
            gathered = graph.Node("GatherND", "gathered", new[] { clips, perClip }, OnnxAttribute.Int("batch_dims", 1));
            mask = graph.ReshapeTo(inClip, graph.Int64s("mask_shape", 0, 0, 1, 1, 1), "mask");
        }
        else
        {
            gathered = graph.Node("Gather", "gathered", new[] { clips, frame }, OnnxAttribute.Int("axis", 1));
            mask = graph.ReshapeTo(inClip, graph.Int64s("mask_shape", 1, -1, 1, 1, 1), "mask");
        }
        string kept = graph.Node("Where", "kept", new[] { mask, gathered, graph.Scalar("black", 0f) });
        string channelsLast = graph.Node("Transpose", "nkhwc", new[] { kept },
            OnnxAttribute.Ints("perm", 0, 1, 3, 4, 2));
        string shape = graph.Node("Concat", "frames_shape",
            new[] { graph.Int64s("all_frames", -1), graph.ShapeOf(channelsLast, 2) }, OnnxAttribute.Int("axis", 0));
        graph.Node("Reshape", new[] { channelsLast, shape }, new[] { output });
    }
}
