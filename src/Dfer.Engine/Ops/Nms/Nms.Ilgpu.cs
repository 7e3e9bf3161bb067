using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;

namespace Dfer.Ops.Nms;

/// <summary>
/// NMS on ILGPU: greedy suppression is sequential, so one thread per image runs the same
/// scan-keep-drop rounds as the CPU kernel (the output holds the state: 2 candidate, 1 kept, 0 out).
/// A detector emits a few hundred boxes per image, so this is microseconds of work.
/// </summary>
public sealed class NmsIlgpu(NmsOp op) : IIlgpuKernel
{
    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape)
    {
        var kernel = device.Kernel(Suppress, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, int, double, double>(Suppress));
        kernel(inputShapes[0][0], inputs[0], output, inputShapes[0][1], op.ScoreThreshold, op.IouThreshold);
    }

    private static void Suppress(Index1D b, ArrayView<float> boxes, ArrayView<float> keep, int k, double scoreThreshold,
        double iouThreshold)
    {
        int bi = b;
        long xb = (long)bi * k * 5, sb = (long)bi * k;
        for (int i = 0; i < k; i++) keep[sb + i] = boxes[xb + i * 5 + 4] > scoreThreshold ? 2f : 0f;
        while (true)
        {
            int best = -1;
            float bestScore = 0;
            for (int i = 0; i < k; i++)
                if (keep[sb + i] == 2f
                    && (best < 0 || boxes[xb + i * 5 + 4] >= bestScore))
                {
                    best = i; bestScore = boxes[
                    xb + i * 5 + 4];
                }
            if (best < 0) return;
            keep[sb + best] = 1f;
            long p = xb + best * 5;
            double ax0 = boxes[p], ay0 = boxes[p + 1], ax1 = boxes[p + 2], ay1 = boxes[p + 3];
            for (int i = 0; i < k; i++)
            {
                if (keep[sb + i] != 2f) continue;
                long q = xb + i * 5;
                double bx0 = boxes[q], by0 = boxes[q + 1], bx1 = boxes[q + 2], by1 = boxes[q + 3];
                double iw = XMath.Max(0.0, XMath.Min(ax1, bx1) - XMath.Max(ax0, bx0));
                double ih = XMath.Max(0.0, XMath.Min(ay1, by1) - XMath.Max(ay0, by0));
                double inter = iw * ih;
                if (inter / ((ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter) > iouThreshold)
                    keep[sb + i] = 0f;
            }
        }
    }

    public void Dispose() { }
}
