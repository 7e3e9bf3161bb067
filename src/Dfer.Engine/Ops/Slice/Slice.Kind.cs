using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Onnx;
using Dfer.Tensors;

namespace Dfer.Ops.Slice;

/// <summary>The slice op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class SliceKind : OpKind<SliceOp>
{
    public static SliceKind Instance { get; } = new();

    private SliceKind() { }

    public override string Name => "slice";

    protected override double[] RunReference(SliceOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes) =>
        SliceReference.Run(op, x[0], shapes[0]);

    protected override ICpuKernel CpuKernel(SliceOp op) => new SliceCpu(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, SliceOp op) => new SliceIlgpu(op);

    protected override IOnnxForm? OnnxForm(SliceOp op) => new SliceOnnx(op);

    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng)
    {
        // (input, axis, start, length); IFDD drops the class token of stage 2 (1569 × 384) and stage 3 (393 × 768).
        var cases = new (int[] x, int axis, int start, int length)[]
        {
            (new[] { 1, 1 }, 1, 0, 1),
            (new[] { 3, 11, 13 }, 1, 4, 7),
            (new[] { 3, 5, 7 }, 2, 2, 3),            // last axis: many short runs
            (new[] { 2, 5, 7 }, 2, 6, 1),            // the last value of the last axis
            (new[] { 2, 7, 5, 3 }, 2, 1, 3),         // a middle axis of a rank-4 tensor
            (new[] { 2, 1569, 384 }, 1, 1, 1568),
            (new[] { 2, 393, 768 }, 1, 1, 392),
        };
        return cases.Select(
            c => new OpCase($"slice({string.Join("x", c.x)},axis={c.axis},start={c.start},length={c.length})",
            new SliceOp(c.axis, c.start, c.length), new[] { c.x })).ToArray();
    }
}
