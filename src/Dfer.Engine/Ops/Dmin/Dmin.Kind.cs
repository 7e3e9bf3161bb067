using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Tensors;

namespace Dfer.Ops.Dmin;

/// <summary>The dmin op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op contract").</summary>
public sealed class DminKind : OpKind<DminOp>
{
    public static DminKind Instance { get; } = new();

    private DminKind() { }

    public override string Name => "dmin";

    protected override double[] RunReference(DminOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes) =>
        DminReference.Run(op, x[0], shapes[0]);

    protected override ICpuKernel CpuKernel(DminOp op) => new DminCpu(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, DminOp op) => new DminIlgpu(device, op);

    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng)
    {
        DminCase[] shapes = [new(1, 2, 1), new(3, 5, 7), new(2, 4, 1024), new(4, 3, 129)];
        return shapes.Select(c => new OpCase($"dmin(b={c.Batch},n={c.Instances},c={c.Channels})",
            new DminOp(c.Channels, rng.Uniform(2, -1, 1), rng.Uniform(2, -1, 1), rng.Uniform(c.Channels, 0.5f, 1.5f), rng.Uniform(c.Channels, -0.5f, 0.5f)),
            new[] { new[] { c.Batch, c.Instances, c.Channels } })).ToArray();
    }

    private sealed record DminCase(int Batch, int Instances, int Channels);
}
