using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Onnx;
using Dfer.Tensors;

namespace Dfer.Ops.KeySample;

/// <summary>The keysample op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class KeySampleKind : OpKind<KeySampleOp>
{
    public static KeySampleKind Instance { get; } = new();

    private KeySampleKind() { }

    public override string Name => "keysample";

    protected override double[] RunReference(KeySampleOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes) =>
        KeySampleReference.Run(op, x[0], x[1]);

    protected override ICpuKernel CpuKernel(KeySampleOp op) => new KeySampleCpu(op);

    protected override IOnnxForm? OnnxForm(KeySampleOp op) => new KeySampleOnnx(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, KeySampleOp op) => new KeySampleIlgpu(op);

    // One key of one frame; RDFER's 4 keys of 4 frames on 64 (batch 1 and 3), the centres reaching past ±1 so that
    // positions leave the clip (black frames), the strides' logits down to −4; odd: 17 frames, 3 keys of 5 (a centre
    // offset of 2 strides), and 2 frames per key (offsets ±0.5).
    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng) => new (int b, int k, int t, int g,
        float muRange)[]
        {
            (1, 1, 1, 1, 1f), (1, 4, 64, 4, 1f), (3, 4, 64, 4, 1.3f), (5, 3, 17, 5, 1.1f), (2, 7, 64, 2, 1f),
        }
        .Select(c => new OpCase($"keysample(b={c.b},keys={c.k},frames={c.t},per_key={c.g},mu=±{c.muRange})",
            new KeySampleOp(c.t, c.g), new[] { new[] { c.b, c.k }, new[] { c.b, c.k } },
            new[] { (-c.muRange, c.muRange), (-4f, 0f) })).ToArray();
}
