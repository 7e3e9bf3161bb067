using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Onnx;
using Dfer.Tensors;

namespace Dfer.Ops.Conv1d;

/// <summary>The conv1d op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class Conv1dKind : OpKind<Conv1dOp>
{
    public static Conv1dKind Instance { get; } = new();

    private Conv1dKind() { }

    public override string Name => "conv1d";

    protected override double[] RunReference(Conv1dOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes) =>
        Conv1dReference.Run(op, x[0], shapes[0]);

    protected override ICpuKernel CpuKernel(Conv1dOp op) => new Conv1dCpu(op);

    protected override IOnnxForm? OnnxForm(Conv1dOp op) => new Conv1dOnnx(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, Conv1dOp op) => new Conv1dIlgpu(device, op);

    // Tiny; odd sizes with two output channels; a kernel of 5 with padding 2 on 13 values; a kernel longer than the
    // input (padding makes it fit); RDFER's pwconv on SNet's 16 and DNet's 4 instances over 1024 features (batch 3
    // takes the parallel path).
    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng)
    {
        Conv1dCase[] shapes =
        [
            new(1, 1, 1, 1, 1, 0), new(3, 5, 2, 11, 3, 1), new(2, 3, 1, 13, 5, 2), new(2, 2, 3, 2, 5, 2),
            new(2, 16, 1, 1024, 3, 1), new(3, 4, 1, 1024, 3, 1),
        ];
        return shapes.Select(c => new OpCase(
            $"conv1d(b={c.Batch},c={c.Cin}->{c.Cout},l={c.Length},k={c.Kernel},p={c.Pad})",
            new Conv1dOp(c.Cin, c.Cout, c.Kernel, c.Pad, Weights(rng, c.Cout * c.Cin * c.Kernel, c.Cin * c.Kernel),
                rng.Uniform(c.Cout, -0.5f, 0.5f)),
            new[] { new[] { c.Batch, c.Cin, c.Length } })).ToArray();
    }

    private sealed record Conv1dCase(int Batch, int Cin, int Cout, int Length, int Kernel, int Pad);
}
