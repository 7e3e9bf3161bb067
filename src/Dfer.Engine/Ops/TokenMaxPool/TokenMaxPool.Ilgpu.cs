using Dfer.Devices.Ilgpu;
using Dfer.Primitives.Ilgpu;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Ops.TokenMaxPool;

/// <summary>
/// tokenmaxpool on ILGPU: per batch item, <see cref="IlgpuWindowMax3d"/> runs on the sub-view of tokens 1..
/// (already a dense [1, T, H, W, C] volume) into the sub-view of output tokens 1..; one small kernel copies
/// the class tokens.
/// </summary>
public sealed class TokenMaxPoolIlgpu : IIlgpuKernel
{
    private readonly TokenMaxPoolOp _op;

    public TokenMaxPoolIlgpu(TokenMaxPoolOp op) { _op = op; }

    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes,
        ArrayView<float> output, int[] outputShape)
    {
        var op = _op;
        int b = inputShapes[0][0], c = inputShapes[0][2], nIn = op.InTokens, nOut = op.OutTokens;
        var (t, h, w) = op.Grid;
        var (to, ho, wo) = op.OutGrid;
        int[] volShape = [1, t, h, w, c], outShape = [1, to, ho, wo, c];
        var x = inputs[0];
        var copy = device.Kernel(ClassTokens, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>,
            ArrayView<float>, int, int, int>(ClassTokens));
        copy(IlgpuLaunch.Count((long)b * c), x, output, c, nIn, nOut);
        for (int bi = 0; bi < b; bi++)
            IlgpuWindowMax3d.Run(device, op.Pool, x.SubView(((long)bi * nIn + 1) * c, (long)(nIn - 1) * c), volShape,
                output.SubView(((long)bi * nOut + 1) * c, (long)(nOut - 1) * c), outShape);
    }

    // Thread = (b, channel j) of the class tokens.
    private static void ClassTokens(Index1D index, ArrayView<float> x, ArrayView<float> y, int c, int inTokens,
        int outTokens)
    {
        int j = index % c, b = index / c;
        y[(long)b * outTokens * c + j] = x[(long)b * inTokens * c + j];
    }

    public void Dispose() { }
}
