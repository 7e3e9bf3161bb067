using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.TemporalShift;

/// <summary>
/// The temporal shift on the CPU: per frame and pixel, three block copies of a channel row (the fold
/// from the next frame, the fold from the previous, the rest from the same frame), zeros at a group's
/// edges; frames are the work items.
/// </summary>
public sealed unsafe class TemporalShiftCpu(TemporalShiftOp op) : ICpuKernel
{
    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = CpuChecks.Dense(inputs[0]);
        CpuChecks.ExpectDense(output, "temporalshift");
        int frames = x.Shape[0], c = x.Shape[^1];
        long perFrame = x.ElementCount / frames;
        var work = new Work(op, x.Data, output.Data, perFrame, c);
        if (x.ElementCount < (1 << 15)) for (int n = 0; n < frames; n++) work.Execute(n, 0);
        else ctx.Pool.Run(work, frames);
    }

    private sealed class Work(TemporalShiftOp op, float* x, float* y, long perFrame, int c) : IParallelWork
    {
        public void Execute(int n, int thread)
        {
            int t = n % op.Group, fold = op.Fold(c);
            long pixels = perFrame / c;
            float* dst = y + n * perFrame;
            float* same = x + n * perFrame;
            float* next = t + 1 < op.Group ? same + perFrame : null;
            float* prev = t > 0 ? same - perFrame : null;
            for (long p = 0; p < pixels; p++)
            {
                long o = p * c;
                Row(next, o, dst + o, fold);
                Row(prev, o + fold, dst + o + fold, fold);
                new ReadOnlySpan<float>(same + o + 2 * fold, c - 2 * fold)
                    .CopyTo(new Span<float>(dst + o + 2 * fold, c - 2 * fold));
            }
        }

        private static void Row(float* source, long offset, float* dst, int count)
        {
            var d = new Span<float>(dst, count);
            if (source is null) d.Clear();
            else new ReadOnlySpan<float>(source + offset, count).CopyTo(d);
        }
    }
}
