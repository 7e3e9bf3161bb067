using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Primitives.Ilgpu;

/// <summary>
/// y = x·Wᵀ + b over dense rows on ILGPU (nn.Linear): one thread per output element, output feature
/// fastest; W is stored transposed [In, Out] on the device so a warp's weight reads are consecutive.
/// </summary>
public sealed class IlgpuDenseRows : IDisposable
{
    private readonly MemoryBuffer1D<float, Stride1D.Dense> _weightT, _bias;

    /// <summary>W row-major [Out, In] as PyTorch stores it; a null bias is zero.</summary>
    public IlgpuDenseRows(IlgpuDevice device, int inFeatures, int outFeatures, float[] weight, float[]? bias)
    {
        In = inFeatures; Out = outFeatures;
        _weightT = device.Upload(Transpose(weight, outFeatures, inFeatures));
        _bias = device.Upload(bias ?? new float[outFeatures]);
    }

    public int In { get; }
    public int Out { get; }

    /// <summary>[rows, cols] → [cols, rows].</summary>
    public static float[] Transpose(float[] m, int rows, int cols)
    {
        var t = new float[m.Length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) t[(long)c * rows + r] = m[(long)r * cols + c];
        return t;
    }

    /// <summary>All of <paramref name="y"/> (rows·Out floats) from the rows of <paramref name="x"/>.</summary>
    public void Run(IlgpuDevice device, ArrayView<float> x, ArrayView<float> y)
    {
        var kernel = device.Kernel(Gemv, a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, int, int>(Gemv));
        kernel(IlgpuLaunch.Count(y.Length), x, _weightT.View, _bias.View, y, In, Out);
    }

    /// <summary>y[r, o] = b[o] + Σ_i x[r, i]·wT[i, o].</summary>
    public static void Gemv(Index1D index, ArrayView<float> x, ArrayView<float> wT, ArrayView<float> bias,
        ArrayView<float> y, int inFeatures, int outFeatures)
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
