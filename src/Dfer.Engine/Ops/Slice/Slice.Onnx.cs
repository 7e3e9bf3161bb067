using Dfer.Onnx;

namespace Dfer.Ops.Slice;

/// <summary>slice in ONNX: one Slice on the op's axis, [start, start + length), step 1.</summary>
internal sealed class SliceOnnx(SliceOp op) : IOnnxForm
{
    public void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output) =>
        OnnxBlocks.Slice(graph, inputs[0], op.Axis, op.Start, op.Start + op.Length, output);


}
