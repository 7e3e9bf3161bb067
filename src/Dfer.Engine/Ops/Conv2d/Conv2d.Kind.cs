using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Onnx;
using Dfer.Tensors;

namespace Dfer.Ops.Conv2d;

/// <summary>The conv2d op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class Conv2dKind : OpKind<Conv2dOp>
{
    public static Conv2dKind Instance { get; } = new();

    private Conv2dKind() { }

    public override string Name => "conv2d";

    protected override double[] RunReference(Conv2dOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes) =>
        Conv2dReference.Run(op, x[0], shapes[0], op.Residual ? x[1] : null);

    protected override ICpuKernel CpuKernel(Conv2dOp op) => new Conv2dCpu(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, Conv2dOp op) => new Conv2dIlgpu(device, op);

    protected override IOnnxForm? OnnxForm(Conv2dOp op) => new Conv2dOnnx(op);

    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng)
    {
        // (n, cin, h, w, cout, k, s, p, d, bias); the last is IFDD's 3x3 dilation-2 stride-2 conv (8 frames there, 2
        // here).
        var shapes = new (int n, int c, int h, int w, int co, (int, int) k, (int, int) s, (int, int) p, (int, int) d,
            bool bias)[]
        {
            (1, 1, 1, 1, 1, (1, 1), (1, 1), (0, 0), (1, 1), true),
            (2, 3, 5, 6, 4, (3, 3), (1, 1), (1, 1), (1, 1), false),
            (2, 7, 13, 11, 19, (3, 3), (2, 2), (2, 2), (2, 2), true),
            (3, 5, 17, 19, 37, (3, 5), (1, 2), (3, 2), (3, 1), true),
            (1, 11, 23, 29, 13, (2, 3), (2, 1), (0, 3), (1, 3), false),
            (1, 37, 7, 7, 41, (3, 3), (1, 1), (1, 1), (1, 1), true),
            (2, 384, 14, 14, 384, (3, 3), (2, 2), (2, 2), (2, 2), false),
            // Dilation 1, window rows inside the input for most tiles: contiguous (kw·ci) runs, stride 2 along w.
            (2, 6, 9, 31, 21, (3, 5), (1, 2), (1, 2), (1, 1), true),
            // Pointwise, odd sizes: 70 positions take the GEMM path (DenseRows), no bias.
            (2, 19, 5, 7, 37, (1, 1), (1, 1), (0, 0), (1, 1), false),
        };
        var cases = shapes.Select(c =>
        {
            int fan = c.c * c.k.Item1 * c.k.Item2;
            var op = new Conv2dOp(c.c, c.co, c.k, c.s, c.p, c.d, Weights(rng, c.co * fan, fan),
                c.bias ? rng.Uniform(c.co, -0.5f, 0.5f) : null);
            string name = $"conv2d(n={c.n},c={c.c},h={c.h},w={c.w},k={c.k.Item1}x{c.k.Item2},s={c.s.Item1}x{c.s.Item2},"
                + $"p={c.p.Item1}x{c.p.Item2},d={c.d.Item1}x{c.d.Item2},cout={c.co}{(c.bias ? "" : ",nobias")})";
            return new OpCase(name, op, new[] { new[] { c.n, c.h, c.w, c.c } });
        }).ToList();
        // Fused activations, odd-sized, leaky; SSD MobileNet v1's stride-2 3×3 'same' conv as a 4×4 pad-1 conv with
        // ReLU6 (inputs in [−10, 10), so it clips at both ends); its 1×1 conv 13 with ReLU6 on the GEMM path (inputs in
        // [−1, 1): a 1024-term fp32 sum of [−10, 10) inputs errs by more than the fp32 bound's 1e-5 near zero).
        foreach (var (n, c, h, w, co, k, s, p, act, range) in new (int, int, int, int, int, int, int, int, Activation,
            float)[]
        {
            (2, 5, 9, 7, 11, 3, 1, 1, Activation.Leaky, 10f),
            (1, 3, 20, 20, 32, 4, 2, 1, Activation.Relu6, 10f),
            (1, 1024, 16, 16, 1024, 1, 1, 0, Activation.Relu6, 1f),
        })
        {
            int fan = c * k * k;
            var op = new Conv2dOp(c, co, (k, k), (s, s), (p, p), (1, 1), Weights(rng, co * fan, fan),
                rng.Uniform(co, -0.5f, 0.5f), act);
            cases.Add(new OpCase($"conv2d(n={n},c={c},h={h},w={w},k={k}x{k},s={s}x{s},p={p}x{p},d=1x1,cout={co}"
                + $"{ActivationMath.Suffix(act)})", op, new[] { new[] { n, h, w, c } }, new[] { (-range, range) }));
        }
        // RDFER's ResNet-50 (docs/models/rdfer.md, step 2) at 112×112 input: the 7×7 stride-2 stem with ReLU; a
        // bottleneck's 1×1 reduce at 28², its stride-2 3×3 at 28² → 14², its 1×1 expand with the residual added before
        // the ReLU at 7², the stride-2 1×1 downsample and the 3×3 at 4²; residuals on odd shapes: the direct
        // (dilated) kernel with a partial panel, a padded 3×5 kernel, and 1 × 1 × 1.
        foreach (var (n, c, h, w, co, k, s, p, d, act, res) in new (int, int, int, int, int, (int, int), (int, int),
            (int, int), (int, int), Activation, bool)[]
        {
            (1, 3, 112, 112, 64, (7, 7), (2, 2), (3, 3), (1, 1), Activation.Relu, false),
            (2, 256, 28, 28, 64, (1, 1), (1, 1), (0, 0), (1, 1), Activation.Relu, false),
            (1, 128, 28, 28, 128, (3, 3), (2, 2), (1, 1), (1, 1), Activation.Relu, false),
            (3, 512, 7, 7, 2048, (1, 1), (1, 1), (0, 0), (1, 1), Activation.Relu, true),
            (2, 1024, 7, 7, 2048, (1, 1), (2, 2), (0, 0), (1, 1), Activation.None, false),
            (2, 512, 4, 4, 512, (3, 3), (1, 1), (1, 1), (1, 1), Activation.Relu, false),
            (2, 7, 9, 11, 19, (3, 3), (1, 1), (2, 2), (2, 2), Activation.Relu, true),
            (3, 5, 6, 13, 37, (3, 5), (2, 1), (1, 2), (1, 1), Activation.Relu, true),
            (1, 1, 1, 1, 1, (1, 1), (1, 1), (0, 0), (1, 1), Activation.None, true),
        })
        {
            int fan = c * k.Item1 * k.Item2;
            var op = new Conv2dOp(c, co, k, s, p, d, Weights(rng, co * fan, fan), rng.Uniform(co, -0.5f, 0.5f), act,
                res);
            int[] x = [n, h, w, c];
            int[][] inputs = res ? [x, op.OutputFor(x)] : [x];
            cases.Add(new OpCase($"conv2d(n={n},c={c},h={h},w={w},k={k.Item1}x{k.Item2},s={s.Item1}x{s.Item2},"
                + $"p={p.Item1}x{p.Item2},d={d.Item1}x{d.Item2},cout={co}{ActivationMath.Suffix(act)}"
                + $"{(res ? ",residual" : "")})", op, inputs));
        }
        return cases;
    }
}
