using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Onnx;
using Dfer.Tensors;

namespace Dfer.Ops.Linear;

/// <summary>The linear op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class LinearKind : OpKind<LinearOp>
{
    public static LinearKind Instance { get; } = new();

    private LinearKind() { }

    public override string Name => "linear";

    protected override double[] RunReference(LinearOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes) =>
        LinearReference.Run(op, x[0]);

    protected override ICpuKernel CpuKernel(LinearOp op) => new LinearCpu(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, LinearOp op) => new LinearIlgpu(device, op);

    protected override IOnnxForm? OnnxForm(LinearOp op) => new LinearOnnx(op);

    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng)
    {
        // IFDD-like widths, odd row and column counts, a model head's one or two rows.
        LinearCase[] shapes =
        [
            new(1, 1, 1, true), new(5, 13, 37, true), new(8, 1024, 3072, false), new(2, 1024, 7, true),
                new(3, 33, 65, false),
            new(50, 96, 288, true), new(197, 768, 769, false), new(100, 3072, 768, true), new(24, 5, 17, true),
            new(3, 5, 7, true, Batch: 2),   // rank 3, as the models' token sequences [B, N, C]
        ];
        return shapes.Select(c => new OpCase(
            $"linear({(c.Batch > 0 ? $"b={c.Batch}," : "")}m={c.Rows},in={c.In},out={c.Out}"
            + $"{(c.Bias ? "" : ",nobias")})",
            new LinearOp(c.In, c.Out, Weights(rng, c.In * c.Out, c.In), c.Bias ? Weights(rng, c.Out, c.In) : null),
                new[] { c.Batch > 0 ? new[] { c.Batch, c.Rows, c.In } : new[] { c.Rows, c.In } })).ToArray();
    }

    // Batch: a leading batch axis of this size, or 0 for rows only.
    private sealed record LinearCase(int Rows, int In, int Out, bool Bias, int Batch = 0);
}
