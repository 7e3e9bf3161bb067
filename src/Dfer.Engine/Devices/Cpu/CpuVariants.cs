using System.Runtime.Intrinsics.X86;

namespace Dfer.Devices.Cpu;

/// <summary>The conv3d kernels of the CPU backend (Ops/Conv3d: Conv3dCpuVariants holds the per-shape table).</summary>
public enum CpuConv3dVariant
{
    /// <summary>The direct implicit GEMM (Conv3dCpu).</summary>
    Direct,

    /// <summary>Winograd F(2×2,3×3) for 3×3×3, stride 1, pad 1 (Conv3dWinogradCpu).</summary>
    Winograd,
}

/// <summary>
/// The one place the CPU backend's kernel variants are chosen from: each field is a pin, and a field left at its
/// default lets the kernel's own table decide. Kernels read it as <see cref="CpuContext.Variants"/>; tests and
/// benchmarks pass a pinned one to <c>new CpuBackend(threads, variants)</c> or <c>new CpuContext(threads,
/// variants)</c>. No environment variable sets these (docs/environment.md).
/// </summary>
public sealed record CpuVariants
{
    /// <summary>No pins: every table decides.</summary>
    public static CpuVariants Default { get; } = new();

    /// <summary>Every conv3d that Winograd could run takes this variant, whatever its frame size; null: the table
    /// (Conv3dCpuVariants.Choose).</summary>
    public CpuConv3dVariant? Conv3d { get; init; }

    /// <summary>Kernels with an AVX2+FMA path and a portable one take the portable one even where the CPU has AVX2 and
    /// FMA.</summary>
    public bool Portable { get; init; }

    /// <summary>Kernels with a 512-bit path may take it where the CPU has AVX-512F (true by default); false pins their
    /// AVX2 path, so both can be tested on one machine.</summary>
    public bool Avx512 { get; init; } = true;

    /// <summary>Whether this CPU has what the intrinsics paths need (AVX2 and FMA).</summary>
    public static bool SimdSupported => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>Whether kernels take their AVX2+FMA path: the CPU has it and <see cref="Portable"/> is off.</summary>
    public bool UseSimd => SimdSupported && !Portable;

    /// <summary>Whether kernels with a 512-bit path take it: the SIMD paths are in use, the CPU has AVX-512F and
    /// <see cref="Avx512"/> is on.</summary>
    public bool UseAvx512 => UseSimd && Avx512 && Avx512F.IsSupported;
}
