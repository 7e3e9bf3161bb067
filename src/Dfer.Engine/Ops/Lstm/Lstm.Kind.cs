using Dfer.Devices.Cpu;
using Dfer.Devices.Cuda;
using Dfer.Devices.Ilgpu;
using Dfer.Onnx;
using Dfer.Tensors;

namespace Dfer.Ops.Lstm;

/// <summary>The lstm op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class LstmKind : OpKind<LstmOp>
{
    public static LstmKind Instance { get; } = new();

    private LstmKind() { }

    public override string Name => "lstm";

    protected override double[] RunReference(LstmOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes) =>
        LstmReference.Run(op, x[0], shapes[0]);

    protected override ICpuKernel CpuKernel(LstmOp op) => new LstmCpu(op);

    protected override IOnnxForm? OnnxForm(LstmOp op) => new LstmOnnx(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, LstmOp op) => new LstmIlgpu(device, op);

    /// <summary>lstm.cu's fused recurrence.</summary>
    public override bool HasNativeCuda => true;

    protected override IIlgpuKernel? CudaKernel(CudaDevice cuda, LstmOp op, Precision precision) =>
        new LstmCuda(cuda, op);

    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng)
    {
        LstmCase[] shapes = [new(1, 1, 3, 5, 1, false), new(2, 3, 7, 11, 2, true), new(3, 4, 13, 17, 2, true),
            new(2, 4, 512, 512, 2, true)];
        return shapes.Select(
            c => new OpCase(
            $"lstm(b={c.Batch},l={c.Length},in={c.Input},h={c.Hidden},"
            + $"layers={c.Layers}{(c.Bidirectional ? ",bidir" : "")})",
            Lstm(rng, c.Input, c.Hidden, c.Layers, c.Bidirectional), new[] { new[] { c.Batch, c.Length, c.Input } }))
            .ToArray();
    }

    private sealed record LstmCase(int Batch, int Length, int Input, int Hidden, int Layers, bool Bidirectional);

    private static LstmOp Lstm(DeterministicRandom rng, int input, int hidden, int layers, bool bidir)
    {
        int dirs = bidir ? 2 : 1;
        float b = (float)(1.0 / Math.Sqrt(hidden));
        return new LstmOp(input, hidden, bidir,
            Enumerable.Range(0, layers).Select(l => Enumerable.Range(0, dirs).Select(_ =>
        {
            int inSize = l == 0 ? input : hidden * dirs;
            return new LstmCell(rng.Uniform(4L * hidden * inSize, -b, b), rng.Uniform(4L * hidden * hidden, -b, b),
                rng.Uniform(4 * hidden, -b, b), rng.Uniform(4 * hidden, -b, b));
        }).ToArray()).ToArray());
    }
}
