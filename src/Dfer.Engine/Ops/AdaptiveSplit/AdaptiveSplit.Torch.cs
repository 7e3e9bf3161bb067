using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.AdaptiveSplit;

/// <summary>
/// IFDD's adaptIndexSplit_dotsim from the frame features on: bmm similarity, softmax, the bias-free offset linear,
/// 2·tanh, plus the base index. Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch
/// oracle of the op.
/// </summary>
internal sealed class AdaptiveSplitTorch : TorchOp<AdaptiveSplitOp>
{
    protected override TTensor Run(AdaptiveSplitOp a, TTensor[] x)
    {
        var f = x[0];
        long b = f.shape[0], t = a.Frames;
        var s = bmm(f, f.transpose(1, 2)) * a.SimilarityScale;
        var p = softmax(a.Negate ? -s : s, -1);
        var off = tanh(F.linear(p.reshape(b, t * t), W(a.OffsetWeight, a.Count, t * t))) * a.OffsetScale;
        return off + W(a.BaseIndex, a.Count).unsqueeze(0);
    }
}
