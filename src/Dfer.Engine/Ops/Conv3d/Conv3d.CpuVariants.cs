using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.Conv3d;

/// <summary>
/// The one place that picks a conv3d CPU kernel per layer shape (design.md: variants are chosen
/// in one table, changed only with numbers from the benchmark). Measured on 2 cores of an AMD EPYC
/// (AVX2), M3DFEL batch 2, `perf/Dfer.Perf --layers`:
/// <list type="bullet">
/// <item>3×3×3, stride 1, pad 1, frames of ≥ 400 pixels (layer1 56², layer2 28²) → Winograd
/// F(2×2,3×3): layer1 convs ~113 ms vs ~130 ms direct, layer2 ~45 vs ~68.</item>
/// <item>the same convs on small frames (layer3 14², layer4 7²) → direct: there the transformed
/// weights (16/9 the size) dominate and Winograd measured 1.5–3× slower.</item>
/// <item>everything else (stem 3×7×7/2, strided 3×3×3, 1×1×1 downsample) → direct implicit GEMM.</item>
/// </list>
/// </summary>
public static class Conv3dCpuVariants
{
    public enum Variant { Direct, Winograd }

    private const int MinWinogradPixels = 400;

    /// <summary>Tests pin a variant to check it on shapes the table would not send it.</summary>
    internal static Variant? Force { get; set; }

    public static Variant Choose(Conv3dOp op, int[] inputShape) =>
        Force ?? (Conv3dWinogradCpu.Applies(op) && inputShape[2] * inputShape[3] >= MinWinogradPixels ? Variant.Winograd : Variant.Direct);

    public static ICpuKernel Create(Conv3dOp op) => Conv3dWinogradCpu.Applies(op) ? new ByShape(op) : new Conv3dCpu(op);

    /// <summary>Holds both kernels (each built on first use) and picks per input shape.</summary>
    private sealed class ByShape(Conv3dOp op) : ICpuKernel, IDisposable
    {
        private Conv3dCpu? _direct;
        private Conv3dWinogradCpu? _winograd;

        public int[]? InputHalo(int input) => input == 0 ? new[] { 0, op.Pad.T, op.Pad.H, op.Pad.W, 0 } : null;

        public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
        {
            if (Choose(op, inputs[0].Shape) == Variant.Winograd) (_winograd ??= new Conv3dWinogradCpu(op)).Run(ctx, inputs, output);
            else (_direct ??= new Conv3dCpu(op)).Run(ctx, inputs, output);
        }

        public void Dispose()
        {
            _direct?.Dispose();
            _winograd?.Dispose();
        }
    }
}
