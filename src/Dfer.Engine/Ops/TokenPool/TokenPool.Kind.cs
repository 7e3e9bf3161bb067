using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Onnx;
using Dfer.Primitives;
using Dfer.Tensors;

namespace Dfer.Ops.TokenPool;

/// <summary>The tokenpool op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class TokenPoolKind : OpKind<TokenPoolOp>
{
    public static TokenPoolKind Instance { get; } = new();

    private TokenPoolKind() { }

    public override string Name => "tokenpool";

    protected override double[] RunReference(TokenPoolOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes) =>
        TokenPoolReference.Run(op, x[0], shapes[0]);

    protected override ICpuKernel CpuKernel(TokenPoolOp op) => new TokenPoolCpu(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, TokenPoolOp op) => new TokenPoolIlgpu(device, op);

    protected override IOnnxForm? OnnxForm(TokenPoolOp op) => new TokenPoolOnnx(op);

    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng)
    {
        // (b, parts, part, heads, d, grid, k, s, p, bias). The small ones are odd-sized (d not a vector width,
        // strides differing per axis, a part other than q, batch > 1); then IFDD's twelve pooling configurations
        // (d 96, k 3, pad 1, q/k/v of one qkv; docs/models/ifdd.md §3.3), at batch 1 except two cheap ones: ILGPU's
        // CPU accelerator pays per thread, and the stride-1 convs on 56² and 28² grids are its largest launches here.
        var shapes = new (int b, int parts, int part, int h, int d, (int T, int H, int W) g, (int, int, int) k,
            (int, int, int) s, (int, int, int) p, bool bias)[]
        {
            (1, 1, 0, 1, 2, (1, 1, 2), (1, 1, 1), (1, 1, 1), (0, 0, 0), false),
            (2, 2, 1, 3, 5, (3, 5, 4), (3, 3, 3), (1, 2, 3), (1, 1, 1), false),
            (3, 3, 2, 2, 7, (2, 3, 5), (2, 3, 1), (2, 1, 2), (1, 1, 0), true),
            (2, 3, 0, 2, 13, (4, 7, 6), (3, 3, 3), (1, 2, 2), (1, 1, 1), false),
            (1, 3, 0, 1, 96, (8, 56, 56), (3, 3, 3), (1, 1, 1), (1, 1, 1), false),
            (1, 3, 1, 1, 96, (8, 56, 56), (3, 3, 3), (1, 8, 8), (1, 1, 1), false),
            (1, 3, 0, 2, 96, (8, 56, 56), (3, 3, 3), (1, 2, 2), (1, 1, 1), false),
            (1, 3, 2, 2, 96, (8, 56, 56), (3, 3, 3), (1, 4, 4), (1, 1, 1), false),
            (1, 3, 0, 2, 96, (8, 28, 28), (3, 3, 3), (1, 1, 1), (1, 1, 1), false),
            (1, 3, 1, 2, 96, (8, 28, 28), (3, 3, 3), (1, 4, 4), (1, 1, 1), false),
            (1, 3, 2, 4, 96, (8, 28, 28), (3, 3, 3), (1, 2, 2), (1, 1, 1), false),
            (1, 3, 0, 4, 96, (8, 14, 14), (3, 3, 3), (1, 1, 1), (1, 1, 1), false),
            (2, 3, 2, 4, 96, (8, 14, 14), (3, 3, 3), (1, 2, 2), (1, 1, 1), false),
            (1, 3, 0, 8, 96, (8, 14, 14), (3, 3, 3), (1, 2, 2), (1, 1, 1), false),
            (1, 3, 1, 8, 96, (8, 14, 14), (3, 3, 3), (1, 1, 1), (1, 1, 1), false),
            (2, 3, 2, 8, 96, (8, 7, 7), (3, 3, 3), (1, 1, 1), (1, 1, 1), false),
        };
        return shapes.Select(c =>
        {
            int fan = c.k.Item1 * c.k.Item2 * c.k.Item3;
            var conv = new DepthwiseConv3dWeights(c.d, c.k, c.s, c.p, Weights(rng, c.d * fan, fan),
                c.bias ? rng.Uniform(c.d, -0.5f, 0.5f) : null);
            var norm = new LayerNormWeights(c.d, rng.Uniform(c.d, 0.5f, 1.5f), rng.Uniform(c.d, -0.5f, 0.5f), 1e-6);
            var op = new TokenPoolOp(c.parts, c.part, c.h, c.g, conv, norm);
            string name = $"tokenpool(b={c.b},parts={c.parts},part={c.part},heads={c.h},d={c.d},"
                + $"grid={c.g.T}x{c.g.H}x{c.g.W},k={c.k.Item1}x{c.k.Item2}x{c.k.Item3},"
                + $"s={c.s.Item1}x{c.s.Item2}x{c.s.Item3},"
                + $"p={c.p.Item1}x{c.p.Item2}x{c.p.Item3}{(c.bias ? ",bias" : "")})";
            return new OpCase(name, op, new[] { new[] { c.b, op.InTokens, op.InChannels } });
        }).ToArray();
    }
}
