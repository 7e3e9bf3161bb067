using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.Conv3d;

/// <summary>
/// The table that picks a conv3d CPU kernel per layer shape (docs/architecture.md: variants are chosen
/// in one table, changed only with numbers from the benchmark). Measured on 2 cores of an AMD EPYC
/// (AVX2), M3DFEL batch 2, `perf/Dfer.Perf --layers`:
/// <list type="bullet">
/// <item>3×3×3, stride 1, pad 1, frames of ≥ 100 pixels (layer1 56², layer2 28², layer3 14²) →
/// Winograd F(2×2,3×3); `perf --conv --batch 2`, medians of several runs: layer1 75–82 ms vs
/// 107–115 direct, layer2 35–45 vs 44–47, layer3 8–14 vs 11–14.</item>
/// <item>the same convs on 7×7 frames (layer4) → direct: 12.5–22 ms vs 11.5–17.5 for Winograd, no
/// consistent winner, and Winograd's transformed weights take 16/9 the memory.</item>
/// <item>everything else (stem 3×7×7/2, strided 3×3×3, 1×1×1 downsample) → direct implicit GEMM.</item>
/// </list>
/// A pin in the context's <see cref="CpuVariants"/> (<see cref="CpuContext.Variants"/>) overrides the table.
/// </summary>
public static class Conv3dCpuVariants
{
    private const int MinWinogradPixels = 100;

    /// <summary>The table's choice for <paramref name="op"/> on input shape <paramref name="inputShape"/>.</summary>
    public static CpuConv3dVariant Choose(Conv3dOp op, int[] inputShape) =>
        Conv3dWinogradCpu.Applies(op) && inputShape[2] * inputShape[3] >= MinWinogradPixels ? CpuConv3dVariant.Winograd
        : CpuConv3dVariant.Direct;

    /// <summary>What runs on <paramref name="ctx"/>: its pin (tests check a variant on shapes the table would not send
    /// it), else the table.</summary>
    public static CpuConv3dVariant Choose(Conv3dOp op, int[] inputShape, CpuContext ctx)
        => ctx.Variants.Conv3d ?? Choose(op, inputShape);

    public static ICpuKernel Create(Conv3dOp op) => Conv3dWinogradCpu.Applies(op) ? new ByShape(op) : new Conv3dCpu(op);

    /// <summary>Holds both kernels (each built on first use) and picks per input shape.</summary>
    private sealed class ByShape(Conv3dOp op) : ICpuKernel, IExecutedFlops, IDisposable
    {
        private Conv3dCpu? _direct;
        private Conv3dWinogradCpu? _winograd;

        public int[]? InputHalo(int input) => input == 0 ? op.InputHalo : null;

        public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
        {
            if (Choose(op, inputs[0].Shape, ctx) == CpuConv3dVariant.Winograd)
                (_winograd ??= new Conv3dWinogradCpu(op)).Run(ctx, inputs, output);
            else (_direct ??= new Conv3dCpu(op)).Run(ctx, inputs, output);
        }

        /// <summary>The count of the variant <see cref="Run"/> picks for these shapes on
        /// <paramref name="ctx"/>.</summary>
        public long ExecutedFlops(CpuContext ctx, IReadOnlyList<int[]> inputShapes) =>
            Choose(op, inputShapes[0], ctx) == CpuConv3dVariant.Winograd
                ? Conv3dWinogradCpu.Executed(op, inputShapes[0], ctx.Threads)
                : Conv3dCpu.Executed(op, inputShapes[0]);

        public void Dispose()
        {
            _direct?.Dispose();
            _winograd?.Dispose();
        }
    }
}
