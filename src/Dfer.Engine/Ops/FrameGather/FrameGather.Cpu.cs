using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.FrameGather;

/// <summary>
/// The gather on the CPU, one output frame per work item: a black frame is cleared; otherwise the source frame's C
/// planes are interleaved into channels-last pixels, a row at a time.
/// </summary>
public sealed unsafe class FrameGatherCpu(FrameGatherOp op) : ICpuKernel
{
    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = CpuChecks.Dense(inputs[0]);
        CpuChecks.ExpectDense(output, "framegather");
        Tensor? indices = op.Fixed is null ? CpuChecks.Dense(inputs[1]) : null;
        var work = new Work(op, x, indices, output);
        ctx.Pool.Run(work, output.Shape[0]);
    }

    private sealed class Work(FrameGatherOp op, Tensor x, Tensor? indices, Tensor y) : IParallelWork
    {
        public void Execute(int frame, int thread)
        {
            int t = x.Shape[1], c = x.Shape[2], h = x.Shape[3], w = x.Shape[4];
            int k = op.Fixed?.Length ?? indices!.Shape[1];
            long plane = (long)h * w, perFrame = plane * c;
            float* dst = y.Data + frame * perFrame;
            float index = op.Fixed is { } f ? f[frame % k] : indices!.Data[frame];
            if (!(index >= 0 && index < t))
            {
                new Span<float>(dst, (int)perFrame).Clear();
                return;
            }
            float* src = x.Data + ((long)(frame / k) * t + (int)index) * perFrame;
            for (long p = 0; p < plane; p++)
                for (int ch = 0; ch < c; ch++)
                    dst[p * c + ch] = src[ch * plane + p];
        }
    }
}
