using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Onnx;
using Dfer.Tensors;

namespace Dfer.Ops.Attention;

/// <summary>The attention op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class AttentionKind : OpKind<AttentionOp>
{
    public static AttentionKind Instance { get; } = new();

    private AttentionKind() { }

    public override string Name => "attention";

    protected override double[] RunReference(AttentionOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes) =>
        AttentionReference.Run(op, x[0], shapes[0]);

    protected override ICpuKernel CpuKernel(AttentionOp op) => new AttentionCpu(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, AttentionOp op) => new AttentionIlgpu(op);

    protected override IOnnxForm? OnnxForm(AttentionOp op) => new AttentionOnnx(op);

    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng)
    {
        // The last scales the logits by a given factor instead of 1/√d.
        AttentionCase[] shapes =
            [new(1, 1, 1, 1), new(2, 5, 3, 7), new(3, 4, 8, 128), new(1, 13, 2, 33), new(2, 6, 2, 5, 0.3)];
        return shapes.Select(
            c => new OpCase($"attention(b={c.Batch},l={c.Length},heads={c.Heads},d={c.HeadDim}"
            + $"{(c.Scale is double s ? $",scale={s}" : "")})",
            new AttentionOp(c.Heads, c.HeadDim, c.Scale),
            new[] { new[] { c.Batch, c.Length, 3 * c.Heads * c.HeadDim } })).ToArray();
    }

    private sealed record AttentionCase(int Batch, int Length, int Heads, int HeadDim, double? Scale = null);
}
