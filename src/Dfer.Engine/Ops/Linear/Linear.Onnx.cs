using Dfer.Onnx;
using Dfer.Primitives;

namespace Dfer.Ops.Linear;

/// <summary>
/// linear in ONNX: MatMul by Wᵀ [In, Out] (W transposed once, at export; MatMul broadcasts over the leading
/// axes) and, where the op has one, Add of the bias [Out].
/// </summary>
internal sealed class LinearOnnx(LinearOp op) : IOnnxForm
{
    public void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output) =>
        OnnxBlocks.Linear(graph, op.Weights, inputs[0], output);


}
