using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Tensors;

namespace Dfer.Ops.BoxDecode;

/// <summary>The boxdecode op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class BoxDecodeKind : OpKind<BoxDecodeOp>
{
    public static BoxDecodeKind Instance { get; } = new();

    private BoxDecodeKind() { }

    public override string Name => "boxdecode";

    protected override double[] RunReference(BoxDecodeOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes) =>
        BoxDecodeReference.Run(op, x[0], shapes[0]);

    protected override ICpuKernel CpuKernel(BoxDecodeOp op) => new BoxDecodeCpu(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, BoxDecodeOp op) => new BoxDecodeIlgpu(device, op);

    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng)
        => new (int n, int gh, int gw, int a)[] { (1, 1, 1, 1), (2, 3, 7, 2), (1, 13, 13, 5), (3, 5, 11, 3) }
        .Select(c => new OpCase($"boxdecode(n={c.n},gh={c.gh},gw={c.gw},anchors={c.a})",
            new BoxDecodeOp(rng.Uniform(c.a, 0.5f, 10f), rng.Uniform(c.a, 0.5f, 10f)),
                new[] { new[] { c.n, c.gh, c.gw, 5 * c.a } },
            new[] { (-3f, 3f) })).ToArray();
}
