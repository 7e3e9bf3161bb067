using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Primitives.Cpu;

/// <summary>
/// <c>y[m,n] = bias[n] + Σ_k x[m,k]·W[n,k]</c> over dense rows, W row-major [N, K] as PyTorch
/// stores it (nn.Linear): <see cref="RowGemm"/>'s register tiles on the SIMD paths, <see cref="GemmNt"/>'s dot
/// products on the portable one.
/// </summary>
/// <remarks>
/// The path depends on the machine, never on the row count: a row's result is then the same bits whatever rows run
/// beside it, so a clip scores the same alone and in any batch (docs/serving.md, "Dynamic batching"). The two paths
/// sum in different orders; choosing by row count (as before) made RDFER's attention gate, B × 8 rows, change its
/// last bits between batch 2 and 3.
/// </remarks>
public sealed unsafe class DenseRows : IDisposable
{
    private readonly float[] _weight;
    private readonly float[]? _bias;
    private readonly NativeBuffer _w;
    private readonly NativeBuffer? _b;
    private readonly GemmNt _gemm = new();
    private RowGemm? _tiled;

    public DenseRows(int inFeatures, int outFeatures, float[] weight, float[]? bias)
    {
        if (weight.LongLength != (long)inFeatures * outFeatures)
            throw new ArgumentException(
                $"dense rows: weight has {weight.LongLength} values, expected [{outFeatures}, {inFeatures}]");
        if (bias != null && bias.Length != outFeatures)
            throw new ArgumentException($"dense rows: bias has {bias.Length} values, expected {outFeatures}");
        In = inFeatures; Out = outFeatures; _weight = weight; _bias = bias;
        _w = new NativeBuffer((long)weight.Length * sizeof(float));
        weight.CopyTo(new Span<float>(_w.Pointer, weight.Length));
        if (bias != null)
        {
            _b = new NativeBuffer(bias.Length * sizeof(float));
            bias.CopyTo(new Span<float>(_b.Pointer, bias.Length));
        }
    }

    public int In { get; }
    public int Out { get; }

    /// <summary><paramref name="x"/> and <paramref name="y"/> dense, <paramref name="rows"/> rows of In and Out
    /// floats.</summary>
    public void Run(CpuContext ctx, Tensor x, Tensor y, int rows)
    {
        if (ctx.UseSimd)
        {
            _tiled ??= new RowGemm(In, Out, _weight, _bias);
            _tiled.Run(ctx, x.Storage, x.Offset, y.Storage, y.Offset, rows, false);
            return;
        }
        _gemm.Run(ctx, x.Data, rows, In, (float*)_w.Pointer, Out, _b == null ? null : (float*)_b.Pointer, y.Data,
            false);
    }

    /// <summary>The FLOPs <see cref="Run"/> executes for <paramref name="rows"/> rows on <paramref name="ctx"/>, by
    /// the path it takes there.</summary>
    public long ExecutedFlops(CpuContext ctx, int rows) => ctx.UseSimd
        ? RowGemm.ExecutedFlops(In, Out, rows)
        : GemmNt.ExecutedFlops(ctx, rows, In, Out);

    public void Dispose() { _w.Dispose(); _b?.Dispose(); _tiled?.Dispose(); }
}
