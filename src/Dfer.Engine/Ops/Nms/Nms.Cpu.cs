using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.Nms;

/// <summary>
/// NMS on the CPU without sorting: the output doubles as the state (2 candidate, 1 kept, 0 out);
/// each round scans for the best candidate, keeps it and drops its overlaps. One work item per image.
/// </summary>
public sealed unsafe class NmsCpu(NmsOp op) : ICpuKernel
{
    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var xt = CpuChecks.Dense(inputs[0]);
        CpuChecks.ExpectDense(output, "nms");
        int n = xt.Shape[0], k = xt.Shape[1];
        for (int b = 0; b < n; b++)
            Suppress(xt.Data + (long)b * k * 5, output.Data + (long)b * k, k, op.ScoreThreshold, op.IouThreshold);
    }

    internal static void Suppress(float* x, float* state, int k, double scoreThreshold, double iouThreshold)
    {
        for (int i = 0; i < k; i++) state[i] = x[i * 5 + 4] > scoreThreshold ? 2f : 0f;
        while (true)
        {
            int best = -1;
            float bestScore = 0;
            for (int i = 0; i < k; i++)
                if (state[i] == 2f && (best < 0 || x[i * 5 + 4] >= bestScore)) { best = i; bestScore = x[i * 5 + 4]; }
            if (best < 0) return;
            state[best] = 1f;
            float* p = x + best * 5;
            for (int i = 0; i < k; i++)
            {
                if (state[i] != 2f) continue;
                float* q = x + i * 5;
                if (NmsOp.Iou(p[0], p[1], p[2], p[3], q[0], q[1], q[2], q[3]) > iouThreshold) state[i] = 0f;
            }
        }
    }
}
