using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.SsdDecode;

/// <summary>
/// face-api's SSD output layer with tensors: each level's map split into box encodings [N, HWA, 4] and class logits
/// [N, HWA, C], concatenated over levels, then decoded against the anchors by broadcasting.
/// Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class SsdDecodeTorch : TorchOp<SsdDecodeOp>
{
    protected override TTensor Run(SsdDecodeOp op, TTensor[] input)
    {
        long n = input[0].shape[0];
        var enc = new List<TTensor>();
        var cls = new List<TTensor>();
        foreach (var x in input)
        {
            long a = x.shape[3] / op.PerAnchor, cells = x.shape[1] * x.shape[2];
            var flat = x.reshape(n, cells, x.shape[3]);
            enc.Add(flat[.., .., ..(int)(4 * a)].reshape(n, cells * a, 4));
            cls.Add(flat[.., .., (int)(4 * a)..].reshape(n, cells * a, op.Classes));
        }
        var e = cat(enc, 1);
        var logits = cat(cls, 1);
        var anchors = W(op.Anchors, 1, op.Boxes, 4);
        var size = anchors[.., .., 2..4] - anchors[.., .., 0..2];
        var centre = anchors[.., .., 0..2] + size / 2;
        var mid = e[.., .., 0..2] / op.CenterScale * size + centre;
        var half = exp(e[.., .., 2..4] / op.SizeScale) * size / 2;
        var lo = mid - half;
        var hi = mid + half;
        var score = sigmoid(logits[.., .., op.ScoreClass]);
        return stack(new[] { lo[.., .., 1], lo[.., .., 0], hi[.., .., 1], hi[.., .., 0], score }, -1);
    }
}
