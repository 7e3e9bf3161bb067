using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Ops.Linear;

/// <summary>
/// y = x·Wᵀ + b on ILGPU: one thread per output element, output feature fastest; W is stored
/// transposed [In, Out] on the device so a warp's weight reads are consecutive.
/// </summary>
public sealed class LinearIlgpu : IIlgpuKernel
{
    private readonly LinearOp _op;
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _weightT, _bias;

    public LinearIlgpu(IlgpuDevice device, LinearOp op)
    {
        _op = op;
        _weightT = device.Upload(Transpose(op.Weight, op.Out, op.In));
        _bias = device.Upload(op.Bias ?? new float[op.Out]);
    }

    /// <summary>[rows, cols] → [cols, rows].</summary>
    internal static float[] Transpose(float[] m, int rows, int cols)
    {
        var t = new float[m.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) t[(long)c * rows + r] = m[(long)r * cols + c];
        return t;
    }

    public void Run(IlgpuDevice device, ReadOnlySpan<ArrayView<float>> inputs, IReadOnlyList<int[]> inputShapes, ArrayView<float> output, int[] outputShape)
    {
        var kernel = device.Kernel(Gemv, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(Gemv));
        kernel(IlgpuLaunch.Count(output.Length), inputs[0], _weightT.View, _bias.View, output, _op.In, _op.Out);
    }

    /// <summary>y[r, o] = b[o] + Σ_i x[r, i]·wT[i, o].</summary>
    internal static void Gemv(Index1D index, ArrayView<float> x, ArrayView<float> wT, ArrayView<float> bias, ArrayView<float> y, int inFeatures, int outFeatures)
    {
        int r = index / outFeatures, o = index % outFeatures;
        long xb = (long)r * inFeatures;
        float acc = bias[o];
        for (int i = 0; i < inFeatures; i++) acc += x[xb + i] * wT[(long)i * outFeatures + o];
        y[index] = acc;
    }

    public void Dispose()
    {
        _weightT.Dispose();
        _bias.Dispose();
    }
}
