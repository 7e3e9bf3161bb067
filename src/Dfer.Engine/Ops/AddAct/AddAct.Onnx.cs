using Dfer.Onnx;

namespace Dfer.Ops.AddAct;

/// <summary>
/// addact in ONNX: the inputs summed left to right by a chain of Add nodes (the Reference's order), then the
/// activation (<see cref="OnnxGraphBuilder.Activate"/>); one input is the activation alone.
/// </summary>
internal sealed class AddActOnnx(AddActOp op) : IOnnxForm
{
    public void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output)
    {
        string sum = inputs[0];
        for (int i = 1; i < op.Inputs; i++) sum = graph.Node("Add", "sum", new[] { sum, inputs[i] });
        graph.Activate(op.Act, sum, output);
    }
}
