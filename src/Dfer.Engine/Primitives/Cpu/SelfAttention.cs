using Dfer.Devices.Cpu;

namespace Dfer.Primitives.Cpu;

/// <summary>
/// Multi-head self-attention over a dense packed [B, L, 3·D] q|k|v buffer into a dense [B, L, D]
/// one, softmax(q·kᵀ·scale)·v per head; one work item per (sample, head). Sequences here are short
/// (M3DFEL: 4 instances), so scores live on the stack.
/// </summary>
public sealed unsafe class SelfAttention(int heads, int headDim, float scale) : IParallelWork
{
    private float* _qkv, _y;
    private int _len;

    public int Heads => heads;
    public int HeadDim => headDim;

    /// <summary>Not reentrant: one call at a time per instance.</summary>
    public void Run(CpuContext ctx, float* qkv, float* y, int batch, int len)
    {
        _qkv = qkv; _y = y; _len = len;
        ctx.Pool.Run(this, batch * heads);
        _qkv = _y = null;
    }

    public void Execute(int index, int thread)
    {
        int len = _len, d = headDim, dim = heads * d;
        int b = index / heads, head = index % heads;
        float* qkv = _qkv + (long)b * len * 3 * dim;
        float* y = _y + (long)b * len * dim;
        Span<float> p = len <= 1024 ? stackalloc float[len] : new float[len];
        for (int l = 0; l < len; l++)
        {
            float* q = qkv + (long)l * 3 * dim + head * d;
            float max = float.NegativeInfinity;
            for (int m = 0; m < len; m++)
            {
                p[m] = GemmNt.Dot(q, qkv + (long)m * 3 * dim + dim + head * d, d) * scale;
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
