using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Tensors;

namespace Dfer.Ops.Gate;

/// <summary>The gate op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op contract").</summary>
public sealed class GateKind : OpKind<GateOp>
{
    public static GateKind Instance { get; } = new();

    private GateKind() { }

    public override string Name => "gate";

    protected override double[] RunReference(GateOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes) =>
        GateReference.Run(x[0], x[1]);

    protected override ICpuKernel CpuKernel(GateOp op) => new GateCpu();

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, GateOp op) => new GateIlgpu();

    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng) => new[] { new[] { 1 }, new[] { 3, 5, 7 }, new[] { 2, 4, 1024 } }
        .Select(s => new OpCase($"gate({string.Join("x", s)})", new GateOp(), new[] { s, s })).ToArray();
}
