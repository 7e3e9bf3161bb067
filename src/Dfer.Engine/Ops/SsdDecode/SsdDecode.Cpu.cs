using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.SsdDecode;

/// <summary>
/// SSD decoding on the CPU: anchors are turned into (centre, size) once when the kernel is built; work items are
/// (image, level) pairs, each a scalar loop over the level's boxes (a few thousand per image).
/// </summary>
public sealed unsafe class SsdDecodeCpu : ICpuKernel
{
    private readonly SsdDecodeOp _op;
    /// <summary>Per box: (cy, cx, h, w) of its anchor.</summary>
    private readonly float[] _anchor;
    private readonly Work _work;

    public SsdDecodeCpu(SsdDecodeOp op)
    {
        _op = op;
        _anchor = new float[op.Anchors.Length];
        for (int i = 0; i < op.Boxes; i++)
        {
            float y0 = op.Anchors[i * 4], x0 = op.Anchors[i * 4 + 1];
            float h = op.Anchors[i * 4 + 2] - y0, w = op.Anchors[i * 4 + 3] - x0;
            _anchor[i * 4] = y0 + h / 2; _anchor[i * 4 + 1] = x0 + w / 2;
            _anchor[i * 4 + 2] = h; _anchor[i * 4 + 3] = w;
        }
        _work = new Work(this);
    }

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        CpuChecks.ExpectDense(output, "ssddecode");
        _work.X = new Tensor[inputs.Length];
        _work.Offsets = new int[inputs.Length];
        int box = 0;
        for (int l = 0; l < inputs.Length; l++)
        {
            _work.X[l] = CpuChecks.Dense(inputs[l]);
            _work.Offsets[l] = box;
            box += inputs[l].Shape[1] * inputs[l].Shape[2] * _op.AnchorsPerCell(inputs[l].Shape[3]);
        }
        _work.Y = output;
        ctx.Pool.Run(_work, output.Shape[0] * inputs.Length);
        _work.X = null; _work.Y = null;
    }

    private sealed class Work(SsdDecodeCpu k) : IParallelWork
    {
        public Tensor[]? X;
        public int[]? Offsets;
        public Tensor? Y;

        public void Execute(int item, int thread)
        {
            var op = k._op;
            int levels = X!.Length, l = item % levels, b = item / levels;
            Tensor x = X[l];
            int cells = x.Shape[1] * x.Shape[2], ch = x.Shape[3], a = op.AnchorsPerCell(ch), classes = op.Classes;
            float cs = (float)(1 / op.CenterScale), ss = (float)(1 / op.SizeScale);
            float* t = x.Data + (long)b * cells * ch;
            int box = Offsets![l];
            float* y = Y!.Data + ((long)b * op.Boxes + box) * 5;
            fixed (float* anchors = k._anchor)
            {
                float* an = anchors + (long)box * 4;
                for (int cell = 0; cell < cells; cell++, t += ch)
                    for (int j = 0; j < a; j++, an += 4, y += 5)
                    {
                        float* e = t + j * 4;
                        float cy = an[0] + e[0] * cs * an[2], cx = an[1] + e[1] * cs * an[3];
                        float hh = MathF.Exp(e[2] * ss) * an[2] * 0.5f, hw = MathF.Exp(e[3] * ss) * an[3] * 0.5f;
                        y[0] = cx - hw; y[1] = cy - hh; y[2] = cx + hw; y[3] = cy + hh;
                        y[4] = 1f / (1f + MathF.Exp(-t[4 * a + j * classes + op.ScoreClass]));
                    }
            }
        }
    }
}
