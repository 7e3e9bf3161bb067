using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Tensors;

namespace Dfer.Ops.FrameSample;

/// <summary>The framesample op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class FrameSampleKind : OpKind<FrameSampleOp>
{
    public static FrameSampleKind Instance { get; } = new();

    private FrameSampleKind() { }

    public override string Name => "framesample";

    protected override double[] RunReference(FrameSampleOp op, IReadOnlyList<double[]> x,
        IReadOnlyList<int[]> shapes) =>
        FrameSampleReference.Run(op, x[0], shapes[0], x[1], shapes[1]);

    protected override ICpuKernel CpuKernel(FrameSampleOp op) => new FrameSampleCpu(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, FrameSampleOp op) => new FrameSampleIlgpu(op);

    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng)
    {
        // IFDD's ISSM: 8 frames of 49×768, 4 positions, divisor 7. Indices range past both ends so the border clamp is
        // exercised.
        FrameSampleCase[] shapes =
            [new(1, 1, 1, 1, 1, 1.0), new(2, 5, 3, 7, 3, 4.0), new(3, 8, 49, 11, 4, 7.0), new(2, 8, 49, 768, 4, 7.0)];
        return shapes.Select(
            c => new OpCase(
            $"framesample(b={c.Batch},t={c.Frames},s={c.Tokens},c={c.Channels},k={c.Positions},divisor={c.Divisor})",
            new FrameSampleOp(c.Divisor),
                new[] { new[] { c.Batch, c.Frames, c.Tokens, c.Channels }, new[] { c.Batch, c.Positions } },
            new[] { (-1f, 1f), (-2.5f, c.Frames + 1.5f) })).ToArray();
    }

    private sealed record FrameSampleCase(int Batch, int Frames, int Tokens, int Channels, int Positions,
        double Divisor);
}
