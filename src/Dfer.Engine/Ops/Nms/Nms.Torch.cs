using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.Nms;

/// <summary>
/// greedy NMS from a broadcast IoU matrix and a stable sort.
/// Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class NmsTorch : TorchOp<NmsOp>
{
    protected override TTensor Run(NmsOp op, TTensor[] input)
    {
        var x = input[0];
        long n = x.shape[0], k = x.shape[1];
        var keep = zeros(n, k, ScalarType.Float64);
        for (long b = 0; b < n; b++)
        {
            var boxes = x[b];
            TTensor C(int i) => boxes[.., i];
            var ix = (minimum(C(2).unsqueeze(1), C(2).unsqueeze(0)) - maximum(C(0).unsqueeze(1), C(0).unsqueeze(0)))
                .clamp_min(0);
            var iy = (minimum(C(3).unsqueeze(1), C(3).unsqueeze(0)) - maximum(C(1).unsqueeze(1), C(1).unsqueeze(0)))
                .clamp_min(0);
            var inter = ix * iy;
            var area = (C(2) - C(0)) * (C(3) - C(1));
            var iou = (inter / (area.unsqueeze(1) + area.unsqueeze(0) - inter)).data<double>().ToArray();
            // Descending score, the higher index first among equals: a stable sort of the reversed list.
            var scores = C(4).flip(0);
            var (_, idx) = sort(scores, descending: true, stable: true);
            var order = idx.data<long>().Select(i => k - 1 - i).ToList();
            var s = C(4).data<double>().ToArray();
            var alive = order.Where(i => s[i] > op.ScoreThreshold).ToList();
            while (alive.Count > 0)
            {
                long best = alive[0];
                keep[b, best] = 1.0;
                alive = alive.Skip(1).Where(i => !(iou[best * k + i] > op.IouThreshold)).ToList();
            }
        }
        return keep;
    }
}
