using Dfer.Devices.Cpu;
using Dfer.Ops.Linear;
using Dfer.Tensors;

namespace Dfer.Ops.Attention;

/// <summary>Self-attention on the CPU; one work item per (sample, head). Sequences here are short (M3DFEL: 4).</summary>
public sealed unsafe class AttentionCpu : ICpuKernel
{
    private readonly AttentionOp _op;
    private readonly Work _work;

    public AttentionCpu(AttentionOp op) { _op = op; _work = new Work(op); }

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        CpuChecks.ExpectDense(output, "attention");
        var x = CpuChecks.Dense(inputs[0]);
        _work.X = x; _work.Y = output;
        ctx.Pool.Run(_work, x.Shape[0] * _op.Heads);
        _work.X = _work.Y = null;
    }

    private sealed class Work : IParallelWork
    {
        private readonly AttentionOp _op;
        public Tensor? X, Y;

        public Work(AttentionOp op) { _op = op; }

        public void Execute(int index, int thread)
        {
            int len = X!.Shape[1], dim = _op.Dim, d = _op.HeadDim;
            int b = index / _op.Heads, head = index % _op.Heads;
            float* qkv = X.Data + (long)b * len * 3 * dim;
            float* y = Y!.Data + (long)b * len * dim;
            Span<float> p = len <= 1024 ? stackalloc float[len] : new float[len];
            for (int l = 0; l < len; l++)
            {
                float* q = qkv + (long)l * 3 * dim + head * d;
                float max = float.NegativeInfinity;
                for (int m = 0; m < len; m++)
                {
                    p[m] = GemmNt.Dot(q, qkv + (long)m * 3 * dim + dim + head * d, d) * (float)_op.Scale;
                    max = MathF.Max(max, p[m]);
                }
                float sum = 0;
                for (int m = 0; m < len; m++) sum += p[m] = MathF.Exp(p[m] - max);
                float inv = 1f / sum;
                float* o = y + (long)l * dim + head * d;
                new Span<float>(o, d).Clear();
                for (int m = 0; m < len; m++)
                {
                    float wgt = p[m] * inv;
                    float* v = qkv + (long)m * 3 * dim + 2 * dim + head * d;
                    for (int j = 0; j < d; j++) o[j] += wgt * v[j];
                }
            }
        }
    }
}
