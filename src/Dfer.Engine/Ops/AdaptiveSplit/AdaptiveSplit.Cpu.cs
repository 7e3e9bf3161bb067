using System.Numerics;
using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.AdaptiveSplit;

/// <summary>
/// The adaptive index split on the CPU in float32, one work item per batch item: the T×T similarity
/// (vectorised dot products, the symmetric half computed once), max-subtracted row softmaxes in
/// per-thread scratch, then the K offsets. Tiny work; the pool only helps with large batches.
/// </summary>
public sealed unsafe class AdaptiveSplitCpu(AdaptiveSplitOp op) : ICpuKernel
{
    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = CpuChecks.Dense(inputs[0]);
        CpuChecks.ExpectDense(output, "issm");
        int[] ys = op.OutputShape(new[] { x.Shape });
        if (!output.Shape.SequenceEqual(ys))
            throw new ArgumentException(
                $"issm: output is {Tensor.FormatShape(output.Shape)}, expected {Tensor.FormatShape(ys)}");
        ctx.Pool.Run(new Work(op, ctx, x, output), x.Shape[0]);
    }

    private static float Dot(float* a, float* b, int n)
    {
        int i = 0, vw = Vector<float>.Count;
        var acc = Vector<float>.Zero;
        for (; i <= n - vw; i += vw) acc += Vector.Load(a + i) * Vector.Load(b + i);
        float s = Vector.Sum(acc);
        for (; i < n; i++) s += a[i] * b[i];
        return s;
    }

    private sealed class Work(AdaptiveSplitOp op, CpuContext ctx, Tensor x, Tensor y) : IParallelWork
    {
        public void Execute(int item, int thread)
        {
            int t = op.Frames, m = x.Shape[2], k = op.Count, tt = t * t;
            float scale = (float)op.SimilarityScale, offsetScale = (float)op.OffsetScale;
            float* f = x.Data + (long)item * t * m;
            float* p = ctx.Scratch(thread, tt);
            for (int i = 0; i < t; i++)
                for (int j = i; j < t; j++)
                {
                    float s = scale * Dot(f + (long)i * m, f + (long)j * m, m);
                    p[i * t + j] = p[j * t + i] = op.Negate ? -s : s;
                }
            for (int i = 0; i < t; i++)
            {
                float* row = p + i * t;
                float max = float.NegativeInfinity, sum = 0f;
                for (int j = 0; j < t; j++) max = MathF.Max(max, row[j]);   // NaN-propagating
                for (int j = 0; j < t; j++) sum += row[j] = MathF.Exp(row[j] - max);
                float inv = 1f / sum;
                for (int j = 0; j < t; j++) row[j] *= inv;
            }
            fixed (float* w = op.OffsetWeight)
                for (int ki = 0; ki < k; ki++)
                {
                    float acc = Dot(w + (long)ki * tt, p, tt);
                    y.Data[(long)item * k + ki] = op.BaseIndex[ki] + offsetScale * MathF.Tanh(acc);
                }
        }
    }
}
