using Dfer.Onnx;

namespace Dfer.Ops.AvgPool3d;

/// <summary>avgpool3d in ONNX: ReduceMean over T, H and W of [N, T, H, W, C], dropping them: [N, C].</summary>
internal sealed class AvgPool3dOnnx : IOnnxForm
{
    public void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output) =>
        graph.Reduce("ReduceMean", inputs[0], new long[] { 1, 2, 3 }, keepDims: false, output);
}
