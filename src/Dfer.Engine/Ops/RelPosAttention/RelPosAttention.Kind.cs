using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Onnx;
using Dfer.Tensors;

namespace Dfer.Ops.RelPosAttention;

/// <summary>The relposattn op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class RelPosAttentionKind : OpKind<RelPosAttentionOp>
{
    public static RelPosAttentionKind Instance { get; } = new();

    private RelPosAttentionKind() { }

    public override string Name => "relposattn";

    protected override double[] RunReference(RelPosAttentionOp op, IReadOnlyList<double[]> x,
        IReadOnlyList<int[]> shapes) =>
        RelPosAttentionReference.Run(op, x[0], x[1], x[2], shapes[0]);

    protected override ICpuKernel CpuKernel(RelPosAttentionOp op) => new RelPosAttentionCpu(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, RelPosAttentionOp op)
        => new RelPosAttentionIlgpu(device, op);

    protected override IOnnxForm? OnnxForm(RelPosAttentionOp op) => new RelPosAttentionOnnx(op);

    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng)
    {
        // (b, heads, d, q grid, k grid, residual pooling); the last is IFDD block 9 (8 heads × 393 × 393, d 96).
        var shapes = new (int b, int h, int d, (int T, int H, int W) q, (int T, int H, int W) k, bool res)[]
        {
            (1, 1, 1, (1, 1, 1), (1, 1, 1), true),
            (2, 2, 7, (2, 3, 5), (2, 2, 3), true),
            (2, 2, 7, (2, 3, 5), (2, 2, 3), false),
            (1, 2, 11, (2, 8, 8), (2, 2, 2), true),      // q larger (blocks 0-2, 4-7: I = i + s·(k−1−j))
            (2, 3, 5, (1, 2, 2), (1, 4, 4), true),       // k larger (block 8: I = 2i + k−1 − j)
            (1, 8, 96, (8, 7, 7), (8, 7, 7), true),
        };
        return shapes.Select(c =>
        {
            int rt = RelPosAttentionOp.TableRows(c.q.T, c.k.T), rh = RelPosAttentionOp.TableRows(c.q.H, c.k.H),
                rw = RelPosAttentionOp.TableRows(c.q.W, c.k.W);
            var op = new RelPosAttentionOp(c.h, c.d, c.q, c.k, Weights(rng, rt * c.d, c.d), Weights(rng, rh * c.d, c.d),
                Weights(rng, rw * c.d, c.d), residualPooling: c.res);
            var qs = new[] { c.b, c.h, op.Nq, c.d };
            var ks = new[] { c.b, c.h, op.Nk, c.d };
            string name = $"relposattn(b={c.b},heads={c.h},d={c.d},q={c.q.T}x{c.q.H}x{c.q.W},"
                + $"k={c.k.T}x{c.k.H}x{c.k.W}{(c.res ? ",res" : "")})";
            return new OpCase(name, op, new[] { qs, ks, (int[])ks.Clone() });
        }).ToArray();
    }
}
