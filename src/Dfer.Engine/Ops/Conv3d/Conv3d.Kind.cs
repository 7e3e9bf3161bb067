using Dfer.Devices.Cpu;
using Dfer.Devices.Cuda;
using Dfer.Devices.Ilgpu;
using Dfer.Onnx;
using Dfer.Tensors;

namespace Dfer.Ops.Conv3d;

/// <summary>The conv3d op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class Conv3dKind : OpKind<Conv3dOp>
{
    public static Conv3dKind Instance { get; } = new();

    private Conv3dKind() { }

    public override string Name => "conv3d";

    protected override double[] RunReference(Conv3dOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes) =>
        Conv3dReference.Run(op, x[0], shapes[0], x.Count > 1 ? x[1] : null);

    protected override ICpuKernel CpuKernel(Conv3dOp op) => Conv3dCpuVariants.Create(op);

    protected override IOnnxForm? OnnxForm(Conv3dOp op) => new Conv3dOnnx(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, Conv3dOp op) => new Conv3dIlgpu(device, op);

    /// <summary>conv3d.cu's implicit GEMM in the backend's precision.</summary>
    public override bool HasNativeCuda => true;

    protected override IIlgpuKernel? CudaKernel(CudaDevice cuda, Conv3dOp op, Precision precision) =>
        new Conv3dCuda(cuda, op, precision, null);

    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng)
    {
        // (n, cin, t, h, w, cout, k, s, p, residual, relu)
        var shapes = new (int n, int c, int t, int h, int w, int co, (int, int, int) k, (int, int, int) s,
            (int, int, int) p, bool res, bool relu)[]
        {
            (1, 1, 1, 1, 1, 1, (1, 1, 1), (1, 1, 1), (0, 0, 0), false, false),
            (2, 3, 5, 7, 11, 5, (3, 3, 3), (1, 1, 1), (1, 1, 1), false, true),
            (1, 3, 4, 13, 17, 19, (3, 7, 7), (1, 2, 2), (1, 3, 3), false, true),
            (2, 7, 5, 9, 9, 17, (3, 3, 3), (2, 2, 2), (1, 1, 1), false, true),
            (2, 5, 5, 9, 7, 33, (1, 1, 1), (2, 2, 2), (0, 0, 0), false, false),
            (1, 11, 3, 5, 13, 11, (3, 3, 3), (1, 1, 1), (1, 1, 1), true, true),
            (3, 2, 2, 3, 4, 3, (2, 3, 1), (1, 2, 1), (0, 1, 0), true, false),
            (1, 64, 4, 14, 14, 64, (3, 3, 3), (1, 1, 1), (1, 1, 1), true, true),
            (2, 13, 3, 23, 29, 21, (3, 3, 3), (1, 1, 1), (1, 1, 1), true, true),
            (2, 256, 1, 7, 7, 256, (3, 3, 3), (1, 1, 1), (1, 1, 1), true, true),
        };
        return shapes.Select(c =>
        {
            int fan = c.c * c.k.Item1 * c.k.Item2 * c.k.Item3;
            var op = new Conv3dOp(c.c, c.co, c.k, c.s, c.p, Weights(rng, c.co * fan, fan),
                rng.Uniform(c.co, -0.5f, 0.5f), c.relu, c.res);
            var x = new[] { c.n, c.t, c.h, c.w, c.c };
            var inputs = c.res ? new[] { x, op.ConvOutputShape(x) } : new[] { x };
            string name = $"conv3d(n={c.n},c={c.c},t={c.t},h={c.h},w={c.w},k={c.k.Item1}x{c.k.Item2}x{c.k.Item3},"
                + $"s={c.s.Item1}x{c.s.Item2}x{c.s.Item3},p={c.p.Item1}x{c.p.Item2}x{c.p.Item3},"
                + $"cout={c.co}{(c.res ? ",res" : "")}{(c.relu ? ",relu" : "")})";
            return new OpCase(name, op, inputs);
        }).ToArray();
    }
}
