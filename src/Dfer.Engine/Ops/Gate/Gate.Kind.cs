using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Onnx;
using Dfer.Tensors;

namespace Dfer.Ops.Gate;

/// <summary>The gate op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class GateKind : OpKind<GateOp>
{
    public static GateKind Instance { get; } = new();

    private GateKind() { }

    public override string Name => "gate";

    protected override double[] RunReference(GateOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes) =>
        GateReference.Run(op, x[0], x[1], shapes[0], shapes[1]);

    protected override ICpuKernel CpuKernel(GateOp op) => new GateCpu(op);

    protected override IOnnxForm? OnnxForm(GateOp op) => new GateOnnx(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, GateOp op) => new GateIlgpu(op);

    // One value; odd shapes, sigmoid and tanh; a broadcast z over one and over two middle axes; RDFER's attention gate
    // ([B, 16, 1024] sigmoid, large enough for the parallel path at batch 3) and DNet's attention product ([B, 4,
    // 1024] times [B, 1024], no activation). z in [−8, 8) reaches the sigmoid's saturation.
    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng) => new (int[] x, int[] z, Activation act)[]
        {
            ([1], [1], Activation.Sigmoid),
            ([3, 5, 7], [3, 5, 7], Activation.Sigmoid),
            ([2, 3, 13], [2, 3, 13], Activation.Tanh),
            ([3, 5, 11], [3, 11], Activation.Sigmoid),
            ([2, 3, 2, 9], [2, 9], Activation.None),
            ([3, 16, 1024], [3, 16, 1024], Activation.Sigmoid),
            ([2, 4, 1024], [2, 1024], Activation.None),
        }
        .Select(c => new OpCase(
            $"gate(x={string.Join("x", c.x)},z={string.Join("x", c.z)}{ActivationMath.Suffix(c.act)})",
            new GateOp(c.act), new[] { c.x, c.z }, new[] { (-2f, 2f), (-8f, 8f) })).ToArray();
}
