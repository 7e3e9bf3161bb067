using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Tensors;

namespace Dfer.Ops.SsdDecode;

/// <summary>The ssddecode op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class SsdDecodeKind : OpKind<SsdDecodeOp>
{
    public static SsdDecodeKind Instance { get; } = new();

    private SsdDecodeKind() { }

    public override string Name => "ssddecode";

    protected override double[] RunReference(SsdDecodeOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes) =>
        SsdDecodeReference.Run(op, x, shapes);

    protected override ICpuKernel CpuKernel(SsdDecodeOp op) => new SsdDecodeCpu(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, SsdDecodeOp op) => new SsdDecodeIlgpu(device, op);

    // (batch, levels as (H, W, anchors per cell), classes, score class): tiny, odd-sized, and face-api's heads
    // (5118 boxes); anchors are random corners with sizes in [0.02, 0.6), encodings and logits in [−3, 3).
    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng)
        => new (int n, (int h, int w, int a)[] levels, int classes, int score)[]
        {
            (1, [(1, 1, 1)], 2, 1),
            (2, [(3, 5, 2), (2, 2, 3)], 3, 1),
            (3, [(7, 3, 1), (1, 1, 4), (5, 2, 3)], 1, 0),
            (1, [(32, 32, 3), (16, 16, 6), (8, 8, 6), (4, 4, 6), (2, 2, 6), (1, 1, 6)], 3, 1),
        }
        .Select(c =>
        {
            int k = c.levels.Sum(l => l.h * l.w * l.a);
            var anchors = new float[k * 4];
            for (int i = 0; i < k; i++)
            {
                float y0 = rng.Uniform(-0.1f, 0.9f), x0 = rng.Uniform(-0.1f, 0.9f);
                anchors[i * 4] = y0; anchors[i * 4 + 1] = x0;
                anchors[i * 4 + 2] = y0 + rng.Uniform(0.02f, 0.6f); anchors[i * 4 + 3] = x0 + rng.Uniform(0.02f, 0.6f);
            }
            string levels = string.Join("+", c.levels.Select(l => $"{l.h}x{l.w}x{l.a}"));
            return new OpCase($"ssddecode(n={c.n},levels={levels},classes={c.classes},score={c.score})",
                new SsdDecodeOp(c.levels.Length, anchors, c.classes, c.score),
                c.levels.Select(l => new[] { c.n, l.h, l.w, l.a * (4 + c.classes) }).ToArray(),
                c.levels.Select(_ => (-3f, 3f)).ToArray());
        }).ToArray();
}
