using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Tensors;

namespace Dfer.Ops.DepthwiseConv3d;

/// <summary>The dwconv3d op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class DepthwiseConv3dKind : OpKind<DepthwiseConv3dOp>
{
    public static DepthwiseConv3dKind Instance { get; } = new();

    private DepthwiseConv3dKind() { }

    public override string Name => "dwconv3d";

    protected override double[] RunReference(DepthwiseConv3dOp op, IReadOnlyList<double[]> x,
        IReadOnlyList<int[]> shapes) =>
        DepthwiseConv3dReference.Run(op, x[0], shapes[0]);

    protected override ICpuKernel CpuKernel(DepthwiseConv3dOp op) => new DepthwiseConv3dCpu(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, DepthwiseConv3dOp op)
        => new DepthwiseConv3dIlgpu(device, op);

    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng)
    {
        // (n, c, t, h, w, k, s, p, bias); the last five are IFDD's pooling convs (96 channels, k 3, pad 1, batch =
        // clips × heads).
        var shapes = new (int n, int c, int t, int h, int w, (int, int, int) k, (int, int, int) s, (int, int, int) p,
            bool bias)[]
        {
            (1, 1, 1, 1, 1, (1, 1, 1), (1, 1, 1), (0, 0, 0), true),
            (2, 3, 3, 4, 5, (3, 3, 3), (1, 1, 1), (1, 1, 1), false),
            (2, 13, 5, 11, 7, (3, 5, 3), (1, 2, 3), (1, 2, 1), true),
            (3, 37, 7, 13, 17, (2, 3, 3), (2, 3, 2), (0, 1, 1), true),
            (1, 19, 3, 29, 23, (3, 3, 3), (1, 3, 2), (1, 1, 1), false),
            (2, 96, 8, 56, 56, (3, 3, 3), (1, 8, 8), (1, 1, 1), false),
            (1, 96, 8, 56, 56, (3, 3, 3), (1, 2, 2), (1, 1, 1), false),
            (4, 96, 8, 14, 14, (3, 3, 3), (1, 1, 1), (1, 1, 1), false),
            (2, 96, 8, 28, 28, (3, 3, 3), (1, 4, 4), (1, 1, 1), false),
            (8, 96, 8, 7, 7, (3, 3, 3), (1, 1, 1), (1, 1, 1), false),
        };
        return shapes.Select(c =>
        {
            int fan = c.k.Item1 * c.k.Item2 * c.k.Item3;
            var op = new DepthwiseConv3dOp(c.c, c.k, c.s, c.p, Weights(rng, c.c * fan, fan),
                c.bias ? rng.Uniform(c.c, -0.5f, 0.5f) : null);
            string name = $"dwconv3d(n={c.n},c={c.c},t={c.t},h={c.h},w={c.w},k={c.k.Item1}x{c.k.Item2}x{c.k.Item3},"
                + $"s={c.s.Item1}x{c.s.Item2}x{c.s.Item3},"
                + $"p={c.p.Item1}x{c.p.Item2}x{c.p.Item3}{(c.bias ? "" : ",nobias")})";
            return new OpCase(name, op, new[] { new[] { c.n, c.t, c.h, c.w, c.c } });
        }).ToArray();
    }
}
