using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Tensors;

namespace Dfer.Ops.PosEmbed;

/// <summary>The posembed op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class PosEmbedKind : OpKind<PosEmbedOp>
{
    public static PosEmbedKind Instance { get; } = new();

    private PosEmbedKind() { }

    public override string Name => "posembed";

    protected override double[] RunReference(PosEmbedOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes) =>
        PosEmbedReference.Run(op, x[0], shapes[0]);

    protected override ICpuKernel CpuKernel(PosEmbedOp op) => new PosEmbedCpu(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, PosEmbedOp op) => new PosEmbedIlgpu(device, op);

    // One value; a chunk shorter than the table (L < rows) and one that fills it; odd sizes that leave vector tails;
    // a Temporal Encoder chunk of 64 frames at d = 256, batch 4 (65,536 values: the CPU's parallel path).
    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng) => new (int[] x, int rows)[]
        {
            ([1, 1, 1], 1),
            ([2, 5, 7], 9),
            ([3, 8, 12], 8),
            ([3, 13, 33], 16),
            ([4, 64, 256], 64),
        }
        .Select(c => new OpCase($"posembed(x={string.Join("x", c.x)},table={c.rows}x{c.x[2]})",
            new PosEmbedOp(rng.Uniform((long)c.rows * c.x[2], -1f, 1f), c.rows, c.x[2]), new[] { c.x }))
        .ToArray();
}
