using Dfer.Devices.Ilgpu;
using Dfer.Primitives.Ilgpu;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Ops.TokenPool;

/// <summary>Layout of one tokenpool launch (kernel arguments must be unmanaged values).</summary>
internal struct TokenPoolIlgpuParams
{
    /// <summary>Heads, d, input tokens (1 + T·H·W), output tokens (1 + T'·H'·W'), parts·heads·d,
    /// part·heads·d.</summary>
    public int Heads, D, InTokens, OutTokens, InChannels, PartOffset;
}

/// <summary>
/// tokenpool on ILGPU, composed of primitives: a gather kernel copies every (batch item, head)'s
/// volume out of X into a dense <c>[B·heads, T, H, W, d]</c> scratch, <see cref="IlgpuDepthwiseConvolution3d"/> pools
/// it in one launch, an assemble kernel writes class tokens and pooled tokens into the output, and
/// <see cref="IlgpuLayerNormRows"/> normalises every output row in place. The gather and assemble kernels move one
/// token row (d floats) per thread, as IlgpuLayerNormRows does: d times fewer threads than one per element,
/// which is what ILGPU's CPU accelerator pays for, at the price of less coalesced copies of a few MB on a GPU.
/// Scratch buffers are owned by the kernel.
/// </summary>
public sealed class TokenPoolIlgpu : IIlgpuKernel
{
    private readonly TokenPoolOp _op;
    private readonly IlgpuDepthwiseConvolution3d _conv;
    private readonly IlgpuLayerNormRows _norm;
    private MemoryBuffer1D<float, Stride1D.Dense>? _vol, _pooled;

    public TokenPoolIlgpu(IlgpuDevice device, TokenPoolOp op)
    {
        _op = op;
        _conv = new IlgpuDepthwiseConvolution3d(device, op.Conv);
        _norm = new IlgpuLayerNormRows(device, op.Norm);
    }

    private static ArrayView<float> Ensure(IlgpuDevice device, ref MemoryBuffer1D<float, Stride1D.Dense>? buf,
        long length)
    {
        if (buf is null || buf.Length < length)
        {
            buf?.Dispose();
            buf = device.Allocate(length);
        }
        return buf.View.SubView(0, length);
    }

    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape)
    {
        var op = _op;
        int b = inputShapes[0][0], bh = b * op.Heads, d = op.HeadDim;
        var (t, h, w) = op.Grid;
        var (to, ho, wo) = op.OutGrid;
        var p = new TokenPoolIlgpuParams
        {
            Heads = op.Heads,
            D = d,
            InTokens = op.InTokens,
            OutTokens = op.OutTokens,
            InChannels = op.InChannels,
            PartOffset = op.Part * op.Heads * d,
        };
        int[] volShape = [bh, t, h, w, d], pooledShape = [bh, to, ho, wo, d];
        var vol = Ensure(device, ref _vol, (long)bh * (op.InTokens - 1) * d);
        var pooled = Ensure(device, ref _pooled, (long)bh * (op.OutTokens - 1) * d);

        var gather = device.Kernel(Gather, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, TokenPoolIlgpuParams>(Gather));
        var assemble = device.Kernel(Assemble, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, TokenPoolIlgpuParams>(Assemble));
        gather(IlgpuLaunch.Count((long)bh * (op.InTokens - 1)), inputs[0], vol, p);
        _conv.Run(device, vol, volShape, pooled, pooledShape);
        assemble(IlgpuLaunch.Count((long)bh * op.OutTokens), inputs[0], pooled, output, p);
        // In place: each thread reads its whole row before writing it.
        _norm.Run(device, output, output);
    }

    // Thread = row (b·heads + head)·(InTokens − 1) + n of the dense volumes: copies that token's d entries.
    private static void Gather(Index1D index, ArrayView<float> x, ArrayView<float> vol, TokenPoolIlgpuParams p)
    {
        int grid = p.InTokens - 1;
        int n = index % grid, bh = index / grid;
        int head = bh % p.Heads, b = bh / p.Heads;
        long src = ((long)b * p.InTokens + 1 + n) * p.InChannels + p.PartOffset + head * p.D,
            dst = (long)(int)index * p.D;
        for (int j = 0; j < p.D; j++) vol[dst + j] = x[src + j];
    }

    // Thread = output row (b·heads + head)·OutTokens + m: the class token for m = 0, else pooled token m − 1.
    private static void Assemble(Index1D index, ArrayView<float> x, ArrayView<float> pooled, ArrayView<float> y,
        TokenPoolIlgpuParams p)
    {
        int m = index % p.OutTokens, bh = index / p.OutTokens;
        int head = bh % p.Heads, b = bh / p.Heads;
        long dst = (long)(int)index * p.D;
        if (m == 0)
        {
            long src = (long)b * p.InTokens * p.InChannels + p.PartOffset + head * p.D;
            for (int j = 0; j < p.D; j++) y[dst + j] = x[src + j];
        }
        else
        {
            long src = ((long)bh * (p.OutTokens - 1) + m - 1) * p.D;
            for (int j = 0; j < p.D; j++) y[dst + j] = pooled[src + j];
        }
    }

    public void Dispose()
    {
        _conv.Dispose(); _norm.Dispose();
        _vol?.Dispose(); _pooled?.Dispose();
    }
}
