using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Onnx;
using Dfer.Tensors;

namespace Dfer.Ops.LayerNorm;

/// <summary>The layernorm op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class LayerNormKind : OpKind<LayerNormOp>
{
    public static LayerNormKind Instance { get; } = new();

    private LayerNormKind() { }

    public override string Name => "layernorm";

    protected override double[] RunReference(LayerNormOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes) =>
        LayerNormReference.Run(op, x[0], shapes[0]);

    protected override ICpuKernel CpuKernel(LayerNormOp op) => new LayerNormCpu(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, LayerNormOp op) => new LayerNormIlgpu(device, op);

    protected override IOnnxForm? OnnxForm(LayerNormOp op) => new LayerNormOnnx(op);

    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng)
    {
        // IFDD: backbone norms (eps 1e-6) on up to 25089 tokens, LADM norms (C 768, eps 1e-5) on 196.
        LayerNormCase[] shapes =
        [
            new([1, 1], 1e-6), new([7, 13], 1e-5), new([1, 393, 768], 1e-6), new([196, 768], 1e-5),
                new([1, 1569, 384], 1e-6), new([3, 5, 97], 1e-6),
        ];
        return shapes.Select(c => new OpCase($"layernorm({string.Join("x", c.Shape)},eps={c.Eps:0e0})",
            new LayerNormOp(c.Shape[^1], rng.Uniform(c.Shape[^1], 0.5f, 1.5f), rng.Uniform(c.Shape[^1], -0.5f, 0.5f),
                c.Eps), new[] { c.Shape })).ToArray();
    }

    private sealed record LayerNormCase(int[] Shape, double Eps);
}
