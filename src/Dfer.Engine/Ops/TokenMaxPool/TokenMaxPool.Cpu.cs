using Dfer.Devices.Cpu;
using Dfer.Primitives.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.TokenMaxPool;

/// <summary>
/// tokenmaxpool on the CPU: per batch item, <see cref="WindowMax3d"/> runs on the dense view of tokens 1..
/// (a [1, T, H, W, C] volume in place) into the output rows after the class token, which is copied.
/// </summary>
public sealed unsafe class TokenMaxPoolCpu : ICpuKernel
{
    private readonly TokenMaxPoolOp _op;
    private readonly WindowMax3d _pool;

    public TokenMaxPoolCpu(TokenMaxPoolOp op)
    {
        _op = op;
        _pool = new WindowMax3d(op.Pool);
    }

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = CpuChecks.Dense(inputs[0]);
        CpuChecks.ExpectDense(output, "tokenmaxpool");
        var op = _op;
        int b = x.Shape[0], c = x.Shape[2], nIn = op.InTokens, nOut = op.OutTokens;
        var (t, h, w) = op.Grid;
        var (to, ho, wo) = op.OutGrid;
        int[] volShape = [1, t, h, w, c], outShape = [1, to, ho, wo, c];
        long[] volStrides = Tensor.ContiguousStrides(volShape), outStrides = Tensor.ContiguousStrides(outShape);
        float* xs = (float*)x.Storage.Pointer, ys = (float*)output.Storage.Pointer;
        for (int bi = 0; bi < b; bi++)
        {
            long src = x.Offset + (long)bi * nIn * c, dst = output.Offset + (long)bi * nOut * c;
            new ReadOnlySpan<float>(xs + src, c).CopyTo(new Span<float>(ys + dst, c));
            _pool.Run(ctx, new Tensor(x.Storage, src + c, volShape, volStrides),
                new Tensor(output.Storage, dst + c, outShape, outStrides));
        }
    }
}
