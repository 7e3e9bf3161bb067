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

/// <summary>The instruction-set paths of the CPU kernels, narrowest first (DFER_CPU_ISA's values).</summary>
public enum CpuIsa
{
    /// <summary>No intrinsics: scalar loops and .NET's cross-platform vectors.</summary>
    Portable,

    /// <summary>The AVX2+FMA paths; the 512-bit ones off.</summary>
    Avx2,

    /// <summary>The 512-bit (AVX-512F) paths where a kernel has one, AVX2+FMA elsewhere.</summary>
    Avx512,
}

/// <summary>
/// The one place the CPU backend's kernel variants are chosen from: each field is a pin, and a field left at its
/// default lets the kernel's own table decide. Kernels read it as <see cref="CpuContext.Variants"/>; tests and
/// benchmarks pass a pinned one to <c>new CpuBackend(threads, variants)</c> or <c>new CpuContext(threads,
/// variants)</c>, and it is used as given. A backend opened without one takes <see cref="Default"/>, which follows
/// DFER_CPU_ISA (docs/environment.md); no other environment variable sets these.
/// </summary>
public sealed record CpuVariants
{
    private static readonly Lazy<CpuVariants> DefaultValue = new(() => FromIsa(EngineEnvironment.CpuIsa));

    /// <summary>What a backend opened without pins takes: the instruction-set path DFER_CPU_ISA forces, else the best
    /// this CPU has; every table decides the rest. A bad DFER_CPU_ISA is a <see cref="DferException"/> naming it
    /// (at each use: the parse is kept, so is its refusal).</summary>
    public static CpuVariants Default => DefaultValue.Value;

    /// <summary>The one line that refuses DFER_CPU_ISA, or null when <see cref="Default"/> can be had: for reports
    /// that list the CPU backend without opening it.</summary>
    public static string? DefaultRefusal
    {
        get
        {
            try
            {
                _ = Default;
                return null;
            }
            catch (DferException e)
            {
                return e.Message;
            }
        }
    }

    /// <summary>The pins for the instruction-set path <paramref name="isa"/> (null: none, the CPU's best), marked
    /// <see cref="Forced"/> when one is given.</summary>
    public static CpuVariants FromIsa(CpuIsa? isa) => isa switch
    {
        null => new CpuVariants(),
        CpuIsa.Portable => new CpuVariants { Portable = true, Forced = true },
        CpuIsa.Avx2 => new CpuVariants { Avx512 = false, Forced = true },
        _ => new CpuVariants { Forced = true },
    };

    /// <summary>Every conv3d that Winograd could run takes this variant, whatever its frame size; null: the table
    /// (Conv3dCpuVariants.Choose).</summary>
    public CpuConv3dVariant? Conv3d { get; init; }

    /// <summary>Kernels with an AVX2+FMA path and a portable one take the portable one even where the CPU has AVX2 and
    /// FMA.</summary>
    public bool Portable { get; init; }

    /// <summary>Kernels with a 512-bit path may take it where the CPU has AVX-512F (true by default); false pins their
    /// AVX2 path, so both can be tested on one machine.</summary>
    public bool Avx512 { get; init; } = true;

    /// <summary>Pins nothing: says that DFER_CPU_ISA chose <see cref="Portable"/> and <see cref="Avx512"/>, for
    /// <see cref="Describe"/>.</summary>
    public bool Forced { get; init; }

    /// <summary>Whether this CPU has what the intrinsics paths need (AVX2 and FMA).</summary>
    public static bool SimdSupported => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>Whether this CPU has what the 512-bit paths need (AVX-512F, with AVX2 and FMA).</summary>
    public static bool Avx512Supported => SimdSupported && Avx512F.IsSupported;

    /// <summary>The widest path this CPU has: what an unset DFER_CPU_ISA means.</summary>
    public static CpuIsa Best => Avx512Supported ? CpuIsa.Avx512 : SimdSupported ? CpuIsa.Avx2 : CpuIsa.Portable;

    /// <summary>Whether kernels take their AVX2+FMA path: the CPU has it and <see cref="Portable"/> is off.</summary>
    public bool UseSimd => SimdSupported && !Portable;

    /// <summary>Whether kernels with a 512-bit path take it: the SIMD paths are in use, the CPU has AVX-512F and
    /// <see cref="Avx512"/> is on.</summary>
    public bool UseAvx512 => UseSimd && Avx512 && Avx512F.IsSupported;

    /// <summary>The path the kernels take with these pins on this CPU.</summary>
    public CpuIsa Isa => UseAvx512 ? CpuIsa.Avx512 : UseSimd ? CpuIsa.Avx2 : CpuIsa.Portable;

    /// <summary>The path's name as DFER_CPU_ISA spells it.</summary>
    public static string Name(CpuIsa isa) => isa switch
    {
        CpuIsa.Portable => "portable",
        CpuIsa.Avx2 => "avx2",
        _ => "avx512",
    };

    /// <summary>Why the kernels take <see cref="Isa"/>: "forced by DFER_CPU_ISA", "pinned by code" or "the best this
    /// CPU has".</summary>
    public string Reason =>
        Forced ? "forced by DFER_CPU_ISA" : Isa == Best ? "the best this CPU has" : "pinned by code";

    /// <summary>
    /// The path in use and why, for `dfer devices` and reports: "avx512 (AVX-512F: 512-bit GEMM, attention and
    /// dot-product tiles; other kernels AVX2+FMA)" where it is the CPU's best, otherwise with the reason first, e.g.
    /// "avx2 (forced by DFER_CPU_ISA; 512-bit paths off)" or "portable (pinned by code; no intrinsics)".
    /// </summary>
    public string Describe()
    {
        string detail = Isa switch
        {
            CpuIsa.Avx512 => "AVX-512F: 512-bit GEMM, attention and dot-product tiles; other kernels AVX2+FMA",
            CpuIsa.Avx2 => Avx512Supported ? "AVX2+FMA; 512-bit paths off" : "AVX2+FMA; this CPU lacks AVX-512F",
            _ => SimdSupported ? "no intrinsics" : "no intrinsics; this CPU lacks AVX2+FMA",
        };
        return !Forced && Isa == Best ? $"{Name(Isa)} ({detail})" : $"{Name(Isa)} ({Reason}; {detail})";
    }
}
