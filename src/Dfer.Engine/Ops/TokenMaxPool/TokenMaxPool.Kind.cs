using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Onnx;
using Dfer.Tensors;

namespace Dfer.Ops.TokenMaxPool;

/// <summary>The tokenmaxpool op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class TokenMaxPoolKind : OpKind<TokenMaxPoolOp>
{
    public static TokenMaxPoolKind Instance { get; } = new();

    private TokenMaxPoolKind() { }

    public override string Name => "tokenmaxpool";

    protected override double[] RunReference(TokenMaxPoolOp op, IReadOnlyList<double[]> x,
        IReadOnlyList<int[]> shapes) =>
        TokenMaxPoolReference.Run(op, x[0], shapes[0]);

    protected override ICpuKernel CpuKernel(TokenMaxPoolOp op) => new TokenMaxPoolCpu(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, TokenMaxPoolOp op) => new TokenMaxPoolIlgpu(op);

    protected override IOnnxForm? OnnxForm(TokenMaxPoolOp op) => new TokenMaxPoolOnnx(op);

    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng)
    {
        // (b, grid, c, k, s, p); the last three are IFDD's pool_skip (blocks 1, 3, 8: k 1x3x3, s 1x2x2, p 0x1x1).
        var cases = new (int b, (int T, int H, int W) g, int c, (int T, int H, int W) k, (int T, int H, int W) s,
            (int T, int H, int W) p)[]
        {
            (1, (1, 1, 1), 1, (1, 1, 1), (1, 1, 1), (0, 0, 0)),
            (2, (3, 5, 7), 11, (3, 3, 3), (2, 2, 2), (1, 1, 1)),
            (3, (2, 5, 4), 13, (1, 3, 3), (1, 2, 2), (0, 1, 1)),
            (2, (5, 3, 6), 9, (2, 3, 2), (1, 3, 2), (1, 1, 0)),
            (1, (8, 56, 56), 192, (1, 3, 3), (1, 2, 2), (0, 1, 1)),
            (1, (8, 28, 28), 384, (1, 3, 3), (1, 2, 2), (0, 1, 1)),
            (2, (8, 14, 14), 768, (1, 3, 3), (1, 2, 2), (0, 1, 1)),
        };
        return cases.Select(c =>
        {
            var op = new TokenMaxPoolOp(c.g, c.k, c.s, c.p);
            return new OpCase(
                $"tokenmaxpool(b={c.b},grid={c.g.T}x{c.g.H}x{c.g.W},c={c.c},k={c.k.T}x{c.k.H}x{c.k.W},"
                + $"s={c.s.T}x{c.s.H}x{c.s.W},p={c.p.T}x{c.p.H}x{c.p.W})",
                op, new[] { new[] { c.b, op.InTokens, c.c } });
        }).ToArray();
    }
}
