using Dfer.Reference;
using TorchSharp;
using static TorchSharp.torch;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.TemporalShift;

/// <summary>
/// TSM's shift as its code writes it, on PyTorch's NCHW layout: the batch viewed as [groups, frames, C, H, W],
/// the first fold taken from the next frame, the second from the previous, the rest kept, zeros elsewhere.
/// Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class TemporalShiftTorch : TorchOp<TemporalShiftOp>
{
    protected override TTensor Run(TemporalShiftOp op, TTensor[] x)
    {
        long[] shape = x[0].shape;
        long n = shape[0], c = shape[^1], fold = op.Fold((int)c), g = op.Group;
        var nchw = x[0].reshape(n, -1, c).permute(0, 2, 1).reshape(n / g, g, c, -1);
        var outp = zeros_like(nchw);
        outp[.., ..^1, ..(int)fold] = nchw[.., 1.., ..(int)fold];
        outp[.., 1.., (int)fold..(int)(2 * fold)] = nchw[.., ..^1, (int)fold..(int)(2 * fold)];
        outp[.., .., (int)(2 * fold)..] = nchw[.., .., (int)(2 * fold)..];
        return outp.reshape(n, c, -1).permute(0, 2, 1).reshape(shape);
    }
}
