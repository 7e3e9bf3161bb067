using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Onnx;
using Dfer.Tensors;

namespace Dfer.Ops.TemporalShift;

/// <summary>The temporalshift op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class TemporalShiftKind : OpKind<TemporalShiftOp>
{
    public static TemporalShiftKind Instance { get; } = new();

    private TemporalShiftKind() { }

    public override string Name => "temporalshift";

    protected override double[] RunReference(TemporalShiftOp op, IReadOnlyList<double[]> x,
        IReadOnlyList<int[]> shapes) =>
        TemporalShiftReference.Run(op, x[0], shapes[0]);

    protected override ICpuKernel CpuKernel(TemporalShiftOp op) => new TemporalShiftCpu(op);

    protected override IOnnxForm? OnnxForm(TemporalShiftOp op) => new TemporalShiftOnnx(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, TemporalShiftOp op) => new TemporalShiftIlgpu(op);

    // Tiny; a group of one (nothing to shift in time: both folds zero); fewer channels than the divisor
    // (fold 0: the identity); odd sizes with a divisor other than 8; RDFER's block inputs in 4-frame groups
    // (docs/models/rdfer.md): layer1 block 0 (64 channels on 28²), layer4 block 0 (1024 on 7², two groups)
    // and its later blocks (2048 on 4²).
    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng)
    {
        ShiftCase[] cases =
        [
            new([2, 1, 1, 2], 2, 2), new([3, 2, 2, 16], 1, 8), new([4, 1, 1, 5], 4, 8), new([6, 3, 5, 13], 3, 4),
            new([8, 7, 3, 24], 4, 8), new([4, 28, 28, 64], 4, 8), new([8, 7, 7, 1024], 4, 8),
            new([4, 4, 4, 2048], 4, 8),
        ];
        return cases.Select(
            c => new OpCase($"temporalshift({string.Join("x", c.Shape)},group={c.Group},fold=c/{c.FoldDiv})",
            new TemporalShiftOp(c.Group, c.FoldDiv), new[] { c.Shape })).ToArray();
    }

    private sealed record ShiftCase(int[] Shape, int Group, int FoldDiv);
}
