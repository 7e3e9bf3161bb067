using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.TokenPool;

/// <summary>
/// MViTv2's <c>Pool</c> on one part of a packed qkv as the original code does it: heads folded into the batch, grouped
/// conv3d, class token back in front, layer_norm. Compiled into Dfer.Reference only (the engine does not carry
/// libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class TokenPoolTorch : TorchOp<TokenPoolOp>
{
    protected override TTensor Run(TokenPoolOp tp, TTensor[] x)
    {
        long b = x[0].shape[0], n = x[0].shape[1], h = tp.Heads, d = tp.HeadDim;
        var z = x[0].reshape(b, n, tp.Parts, h, d).select(2, tp.Part).permute(0, 2, 1, 3);
        var cls = z[.., .., ..1, ..];
        var vol = z[.., .., 1.., ..].reshape(b * h, tp.Grid.T, tp.Grid.H, tp.Grid.W, d).permute(0, 4, 1, 2, 3);
        var conv = tp.Conv;
        var w = W(conv.Weight, d, 1, conv.Kernel.T, conv.Kernel.H, conv.Kernel.W);
        var pooled = F.conv3d(vol, w, conv.Bias == null ? null : W(conv.Bias, d),
            new long[] { conv.Stride.T, conv.Stride.H, conv.Stride.W },
                new long[] { conv.Pad.T, conv.Pad.H, conv.Pad.W }, groups: d);
        var tokens = pooled.reshape(b, h, d, -1).transpose(2, 3);
        var all = cat(new[] { cls, tokens }, 2);
        return F.layer_norm(all, new long[] { d }, W(tp.Norm.Weight, d), W(tp.Norm.Bias, d), tp.Norm.Eps);
    }
}
