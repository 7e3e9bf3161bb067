using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Onnx;
using Dfer.Tensors;

namespace Dfer.Ops.FrameGather;

/// <summary>The framegather op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class FrameGatherKind : OpKind<FrameGatherOp>
{
    public static FrameGatherKind Instance { get; } = new();

    private FrameGatherKind() { }

    public override string Name => "framegather";

    protected override double[] RunReference(FrameGatherOp op, IReadOnlyList<double[]> x,
        IReadOnlyList<int[]> shapes) =>
        FrameGatherReference.Run(op, x[0], shapes[0], op.Fixed is null ? x[1] : null);

    protected override ICpuKernel CpuKernel(FrameGatherOp op) => new FrameGatherCpu(op);

    protected override IOnnxForm? OnnxForm(FrameGatherOp op) => new FrameGatherOnnx(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, FrameGatherOp op) =>
        new FrameGatherIlgpu(device, op);

    // Indices as an input, drawn in [−2, T + 1) so that some fall outside the clip (black) and most are fractional
    // (truncated): one 1×1 frame; odd sizes; RDFER's detail frames (16 of 64 at 112², batch 2). Fixed indices:
    // RDFER's synopsis (16 of 64 at 112²), an odd pick with a repeated frame and a black one, and one naming the frame
    // past the clip's last (black too).
    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng)
    {
        var cases = new (int b, int t, int c, int h, int w, int k)[]
        {
            (1, 1, 1, 1, 1, 1), (3, 7, 3, 5, 9, 5), (2, 64, 3, 112, 112, 16),
        }
        .Select(c => new OpCase($"framegather(b={c.b},t={c.t},c={c.c},h={c.h},w={c.w},k={c.k})", new FrameGatherOp(),
            new[] { new[] { c.b, c.t, c.c, c.h, c.w }, new[] { c.b, c.k } }, new[] { (-1f, 1f), (-2f, c.t + 1f) }))
        .ToList();
        int[] synopsis = [0, 4, 8, 12, 16, 21, 25, 29, 33, 37, 42, 46, 50, 54, 58, 63];
        cases.Add(new OpCase("framegather(b=2,t=64,c=3,h=112,w=112,fixed=synopsis)", new FrameGatherOp(synopsis),
            new[] { new[] { 2, 64, 3, 112, 112 } }));
        cases.Add(new OpCase("framegather(b=3,t=6,c=2,h=3,w=7,fixed=5,0,5,-1)", new FrameGatherOp([5, 0, 5, -1]),
            new[] { new[] { 3, 6, 2, 3, 7 } }));
        cases.Add(new OpCase("framegather(b=2,t=3,c=2,h=2,w=3,fixed=3,2,-1,0)", new FrameGatherOp([3, 2, -1, 0]),
            new[] { new[] { 2, 3, 2, 2, 3 } }));
        return cases;
    }
}
