using Dfer.Reference;
using TorchSharp;
using static TorchSharp.torch;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.KeySample;

/// <summary>
/// The re-sampling as the original writes it on float32 tensors: <c>mu*(T−1)/2.0 + (T−1)/2.0</c>, <c>(T/3)·exp(δ)</c>,
/// positions from an offset vector, <c>ceil</c>, −1 outside the clip.
/// Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class KeySampleTorch : TorchOp<KeySampleOp>
{
    protected override TTensor Run(KeySampleOp op, TTensor[] x)
    {
        var mu = x[0].to_type(ScalarType.Float32);
        var delta = x[1].to_type(ScalarType.Float32);
        var centre = mu * (float)(op.Frames - 1) / 2.0f + op.Middle;
        var stride = exp(delta) * op.StrideScale;
        var offsets = tensor(Enumerable.Range(0, op.PerKey).Select(op.Offset).ToArray());
        var position = centre.unsqueeze(-1) + offsets * stride.unsqueeze(-1);
        var k = ceil(position);
        var inside = k.ge(0).logical_and(k.le(op.Frames - 1));
        return where(inside, k, tensor(-1f)).reshape(mu.shape[0], -1).to_type(x[0].dtype);
    }
}
