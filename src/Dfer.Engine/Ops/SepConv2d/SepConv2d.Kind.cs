using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Tensors;

namespace Dfer.Ops.SepConv2d;

/// <summary>The sepconv2d op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class SepConv2dKind : OpKind<SepConv2dOp>
{
    public static SepConv2dKind Instance { get; } = new();

    private SepConv2dKind() { }

    public override string Name => "sepconv2d";

    protected override double[] RunReference(SepConv2dOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes) =>
        SepConv2dReference.Run(op, x[0], shapes[0]);

    protected override ICpuKernel CpuKernel(SepConv2dOp op) => new SepConv2dCpu(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, SepConv2dOp op) => new SepConv2dIlgpu(device, op);

    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng)
    {
        // (n, c, h, w, cout (0: depthwise only), k, s, pad, bias, act): tiny, odd-sized (primes, asymmetric TF 'same'
        // padding) and the networks' own shapes.
        var shapes = new (int n, int c, int h, int w, int co, (int H, int W) k, (int H, int W) s, Pad2d p, bool bias,
            Activation act)[]
        {
            (1, 1, 1, 1, 1, (1, 1), (1, 1), Pad2d.Uniform(0), true, Activation.None),
            (2, 3, 5, 7, 5, (3, 3), (1, 1), Pad2d.Uniform(1), true, Activation.Relu),
            (1, 13, 11, 9, 19, (3, 3), (2, 2), Pad2d.Same(11, 9, 3, 3, 2, 2), true, Activation.Leaky),
            (2, 37, 8, 12, 0, (3, 3), (2, 2), Pad2d.Same(8, 12, 3, 3, 2, 2), true, Activation.Relu),
            (3, 11, 6, 6, 7, (3, 5), (2, 1), new Pad2d(1, 2, 0, 2), false, Activation.None),
            (2, 17, 13, 13, 0, (3, 3), (1, 1), Pad2d.Uniform(1), false, Activation.Leaky),
            // Depthwise, a window wider than the input (both sides in the padding), 40 channels = 32 + 8.
            (1, 40, 2, 3, 0, (3, 5), (1, 2), new Pad2d(1, 2, 1, 2), true, Activation.Relu),
            (1, 32, 56, 56, 32, (3, 3), (1, 1), Pad2d.Uniform(1), true, Activation.None),      // expression net dense0
            // dense3 conv0
            (1, 128, 14, 14, 256, (3, 3), (2, 2), Pad2d.Same(14, 14, 3, 3, 2, 2), true, Activation.Relu),
            (1, 256, 13, 13, 512, (3, 3), (1, 1), Pad2d.Uniform(1), true, Activation.Leaky),   // detector conv5
            // ReLU6 (inputs in [−10, 10), so both ends clip): odd-sized, then SSD MobileNet v1's conv_7 depthwise.
            (2, 19, 9, 10, 23, (3, 3), (2, 2), Pad2d.Same(9, 10, 3, 3, 2, 2), true, Activation.Relu6),
            (1, 512, 32, 32, 0, (3, 3), (1, 1), Pad2d.Uniform(1), true, Activation.Relu6),
        };
        return shapes.Select(c =>
        {
            int taps = c.k.H * c.k.W, co = c.co == 0 ? c.c : c.co;
            var op = new SepConv2dOp(c.c, c.k, c.s, c.p, Weights(rng, c.c * taps, taps),
                c.co == 0 ? null : Weights(rng, co * c.c, c.c), co,
                c.bias ? rng.Uniform(co, -0.5f, 0.5f) : null, c.act);
            string name = $"sepconv2d(n={c.n},c={c.c},h={c.h},w={c.w},k={c.k.H}x{c.k.W},s={c.s.H}x{c.s.W},p={c.p},"
                + $"{(c.co == 0 ? "depthwise" : $"cout={co}")}{(c.bias ? "" : ",nobias")}"
                + $"{ActivationMath.Suffix(c.act)})";
            return new OpCase(name, op, new[] { new[] { c.n, c.h, c.w, c.c } },
                c.act == Activation.Relu6 ? new[] { (-10f, 10f) } : null);
        }).ToArray();
    }
}
