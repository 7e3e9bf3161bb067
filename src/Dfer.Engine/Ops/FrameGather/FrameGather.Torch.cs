using Dfer.Reference;
using TorchSharp;
using static TorchSharp.torch;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.FrameGather;

/// <summary>
/// The gather as RDFER's original builds its detail frames: a one-hot matrix [B, K, T] (an all-zero row for an index
/// outside the clip) times the clips viewed as [B, T, C·H·W], then channels moved last.
/// Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class FrameGatherTorch : TorchOp<FrameGatherOp>
{
    protected override TTensor Run(FrameGatherOp op, TTensor[] x)
    {
        long[] s = x[0].shape;
        long b = s[0], t = s[1];
        var idx = op.Fixed is { } f
            ? tensor(f.Select(i => (double)i).ToArray(), dtype: x[0].dtype).unsqueeze(0).expand(b, -1)
            : x[1];
        var whole = idx.trunc();
        var frames = arange(t, dtype: x[0].dtype);
        var inside = idx.ge(0).logical_and(idx.lt(t)).unsqueeze(-1);
        var onehot = whole.unsqueeze(-1).eq(frames).logical_and(inside).to_type(x[0].dtype);   // [B, K, T]
        var picked = matmul(onehot, x[0].reshape(b, t, -1));                 // [B, K, C·H·W]
        return picked.reshape(-1, s[2], s[3], s[4]).permute(0, 2, 3, 1).contiguous();
    }
}
