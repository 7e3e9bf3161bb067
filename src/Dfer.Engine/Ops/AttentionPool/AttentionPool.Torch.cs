using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.AttentionPool;

/// <summary>
/// M3DFEL's head as its forward composes it (docs/models/m3dfel.md): to_qkv, multi-head attention over the instances,
/// DMIN, the sigmoid gate, pwconv (a Conv1d over the instances as channels), fc. Compiled into Dfer.Reference only (the
/// engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class AttentionPoolTorch : TorchOp<AttentionPoolOp>
{
    protected override TTensor Run(AttentionPoolOp a, TTensor[] x)
    {
        var ori = x[0];
        long b = ori.shape[0];
        var qkv = F.linear(ori, W(a.QkvWeight, 3 * a.Dim, a.Dim));
        var y = TorchFunctions.Attention(qkv, a.Heads, a.HeadDim, a.Scale);
        var z = TorchFunctions.Dmin(y, a.MeanWeight, a.VarWeight, a.NormWeight, a.NormBias, a.Eps);
        var gated = ori * sigmoid(z);
        var pooled = F.conv1d(gated, W(a.ConvWeight, 1, a.Instances, a.ConvKernel), W(new[] { a.ConvBias }, 1),
            padding: a.ConvPad);
        return F.linear(pooled.reshape(b, a.PooledLength), W(a.FcWeight, a.Classes, a.PooledLength),
            W(a.FcBias, a.Classes));
    }
}
