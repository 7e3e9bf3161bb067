using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.BoxDecode;

/// <summary>
/// the tiny detector's box decoding with broadcast sigmoid/exp over the grid.
/// Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class BoxDecodeTorch : TorchOp<BoxDecodeOp>
{
    protected override TTensor Run(BoxDecodeOp b, TTensor[] input)
    {
        var x = input[0];
        long n = x.shape[0], gh = x.shape[1], gw = x.shape[2], a = b.Anchors;
        var t = x.reshape(n, gh, gw, a, 5);
        var col = arange(gw, ScalarType.Float64).reshape(1, 1, gw, 1);
        var row = arange(gh, ScalarType.Float64).reshape(1, gh, 1, 1);
        var cx = (col + sigmoid(t[.., .., .., .., 0])) / gw;
        var cy = (row + sigmoid(t[.., .., .., .., 1])) / gh;
        var w = exp(t[.., .., .., .., 2]) * W(b.AnchorWidths, 1, 1, 1, a) / gw;
        var h = exp(t[.., .., .., .., 3]) * W(b.AnchorHeights, 1, 1, 1, a) / gh;
        var x0 = cx - w / 2;
        var y0 = cy - h / 2;
        return stack(new[] { x0, y0, x0 + w, y0 + h, sigmoid(t[.., .., .., .., 4]) }, -1).reshape(n, gh * gw * a, 5);
    }
}
