using Dfer.Devices.Cpu;
using Dfer.Devices.Cuda;
using Dfer.Devices.Ilgpu;
using Dfer.Onnx;
using Dfer.Tensors;

namespace Dfer.Ops.AttentionPool;

/// <summary>The attentionpool op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class AttentionPoolKind : OpKind<AttentionPoolOp>
{
    public static AttentionPoolKind Instance { get; } = new();

    private AttentionPoolKind() { }

    public override string Name => "attentionpool";

    protected override double[] RunReference(AttentionPoolOp op, IReadOnlyList<double[]> x,
        IReadOnlyList<int[]> shapes) =>
        AttentionPoolReference.Run(op, x[0], shapes[0]);

    protected override ICpuKernel CpuKernel(AttentionPoolOp op) => new AttentionPoolCpu(op);

    protected override IOnnxForm? OnnxForm(AttentionPoolOp op) => new AttentionPoolOnnx(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, AttentionPoolOp op)
        => new AttentionPoolIlgpu(device, op);

    /// <summary>attention_pool.cu's fused head; shapes past its limits (none of M3DFEL's) run ILGPU's.</summary>
    public override bool HasNativeCuda => true;

    protected override IIlgpuKernel? CudaKernel(CudaDevice cuda, AttentionPoolOp op, Precision precision) =>
        AttentionPoolCuda.Unsupported(op) is null ? new AttentionPoolCuda(cuda, op) : null;

    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng)
    {
        // (b, n, d, heads, classes, k, p): tiny; odd (d 40, a head dim of 10, 3 instances, 5 classes);
        // odd with a wide kernel, padding 2 and a head dim of 7; M3DFEL's head at batch 1, 2 and 3.
        // The head's DMIN, gate and pwconv have no op of their own, so the odd shapes the dmin, gate
        // and conv1d cases covered are here: one feature; fewer features than a SIMD vector (7, with
        // 5 instances); a feature count one past a multiple of 8 (129, 4 samples of 3 instances); 13
        // features through a kernel of 5 with padding 2.
        var shapes = new (int b, int n, int d, int h, int cls, int k, int p)[]
        {
            (1, 2, 2, 1, 1, 1, 0),
            (2, 3, 40, 4, 5, 3, 1),
            (3, 2, 35, 5, 3, 5, 2),
            (1, 2, 1, 1, 2, 1, 0),
            (3, 5, 7, 7, 2, 3, 1),
            (4, 3, 129, 3, 7, 3, 1),
            (2, 3, 13, 1, 4, 5, 2),
            (1, 4, 1024, 8, 7, 3, 1),
            (2, 4, 1024, 8, 7, 3, 1),
            (3, 4, 1024, 8, 7, 3, 1),
        };
        return shapes.Select(c =>
        {
            int lout = c.d + 2 * c.p - c.k + 1;
            var op = new AttentionPoolOp(c.d, c.h, c.n, c.cls, new AttentionPoolWeights
            {
                Qkv = Weights(rng, 3 * c.d * c.d, c.d),
                MeanWeight = rng.Uniform(2, -1, 1),
                VarWeight = rng.Uniform(2, -1, 1),
                NormWeight = rng.Uniform(c.d, 0.5f, 1.5f),
                NormBias = rng.Uniform(c.d, -0.5f, 0.5f),
                Eps = 1e-5,
                ConvKernel = c.k,
                ConvPad = c.p,
                ConvWeight = Weights(rng, c.n * c.k, c.n * c.k),
                ConvBias = rng.Uniform(1, -0.5f, 0.5f)[0],
                FcWeight = Weights(rng, c.cls * lout, lout),
                FcBias = rng.Uniform(c.cls, -0.5f, 0.5f),
            });
            return new OpCase($"attentionpool(b={c.b},n={c.n},d={c.d},heads={c.h},classes={c.cls},k={c.k},p={c.p})", op,
                new[] { new[] { c.b, c.n, c.d } });
        }).ToArray();
    }
}
