using Dfer.Devices.Cpu;
using Dfer.Primitives.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.TokenPool;

/// <summary>
/// tokenpool on the CPU, composed of primitives. Per (batch item, head), <see cref="DepthwiseConvolution3d"/>
/// reads the head's volume in place through a strided view of X (tokens 1.., this part's and head's d channels,
/// token stride parts·heads·d) and writes straight into the output rows after the class token; the class token
/// is copied; then <see cref="LayerNormRows"/> normalises every output row in place. No scratch, no gather.
/// </summary>
public sealed unsafe class TokenPoolCpu : ICpuKernel, IDisposable
{
    private readonly TokenPoolOp _op;
    private readonly DepthwiseConvolution3d _conv;
    private readonly LayerNormRows _norm;

    public TokenPoolCpu(TokenPoolOp op)
    {
        _op = op;
        _conv = new DepthwiseConvolution3d(op.Conv);
        _norm = new LayerNormRows(op.Norm);
    }

    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var x = CpuChecks.Dense(inputs[0]);
        CpuChecks.ExpectDense(output, "tokenpool");
        var op = _op;
        int b = x.Shape[0], heads = op.Heads, d = op.HeadDim, p = op.InChannels, nIn = op.InTokens, nOut = op.OutTokens;
        var (t, h, w) = op.Grid;
        var (to, ho, wo) = op.OutGrid;
        int[] volShape = [1, t, h, w, d], outShape = [1, to, ho, wo, d];
        long[] volStrides = [(long)nIn * p, (long)h * w * p, (long)w * p, p, 1];
        long[] outStrides = Tensor.ContiguousStrides(outShape);
        float* xs = (float*)x.Storage.Pointer, ys = (float*)output.Storage.Pointer;
        for (int bi = 0; bi < b; bi++)
            for (int hd = 0; hd < heads; hd++)
            {
                long src = x.Offset + (long)bi * nIn * p + (long)(op.Part * heads + hd) * d;
                long dst = output.Offset + ((long)bi * heads + hd) * nOut * d;
                new ReadOnlySpan<float>(xs + src, d).CopyTo(new Span<float>(ys + dst, d));
                _conv.Run(ctx, new Tensor(x.Storage, src + p, volShape, volStrides),
                    new Tensor(output.Storage, dst + d, outShape, outStrides));
            }
        int[] rows = [b * heads * nOut, d];
        var all = new Tensor(output.Storage, output.Offset, rows, Tensor.ContiguousStrides(rows));
        // In place: each row is read in full before any of it is written.
        _norm.Run(ctx, all, all);
    }

    public void Dispose() => _conv.Dispose();
}
