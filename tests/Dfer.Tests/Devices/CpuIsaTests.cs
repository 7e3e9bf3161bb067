using System.Numerics;
using Dfer.Backends.Cpu;
using Dfer.Backends.Reference;
using Dfer.Devices;
using Dfer.Devices.Cpu;
using Dfer.Runtime;

namespace Dfer.Tests.Devices;

/// <summary>
/// DFER_CPU_ISA and the CPU backend's instruction-set paths (docs/environment.md): the values the variable takes and
/// the ones it refuses, the pins each value stands for, what reports say about the path, and the peak loop of each
/// path. Nothing here is timed: the peaks' figures come from <c>perf/Dfer.Perf --peak</c>.
/// </summary>
[TestFixture]
public class CpuIsaTests
{
    [Test]
    public void Values_AnyCase_AndUnsetMeansTheBest()
    {
        Assert.That(EngineEnvironment.ParseCpuIsa(null, true, true), Is.Null);
        Assert.That(EngineEnvironment.ParseCpuIsa("", true, true), Is.Null);
        Assert.That(EngineEnvironment.ParseCpuIsa("portable", true, true), Is.EqualTo(CpuIsa.Portable));
        Assert.That(EngineEnvironment.ParseCpuIsa("AVX2", true, true), Is.EqualTo(CpuIsa.Avx2));
        Assert.That(EngineEnvironment.ParseCpuIsa("Avx512", true, true), Is.EqualTo(CpuIsa.Avx512));
        // A CPU without AVX2 still runs the portable path; one without AVX-512F still runs avx2.
        Assert.That(EngineEnvironment.ParseCpuIsa("portable", false, false), Is.EqualTo(CpuIsa.Portable));
        Assert.That(EngineEnvironment.ParseCpuIsa("avx2", true, false), Is.EqualTo(CpuIsa.Avx2));
        Assert.That(CpuVariants.FromIsa(null), Is.EqualTo(new CpuVariants()));
    }

    [TestCase("sse", true, true, "DFER_CPU_ISA=sse: expected portable, avx2 or avx512 (docs/environment.md)")]
    [TestCase("avx-512", true, true, "DFER_CPU_ISA=avx-512: expected portable, avx2 or avx512 (docs/environment.md)")]
    [TestCase("avx512", true, false,
        "DFER_CPU_ISA=avx512: this CPU lacks AVX-512F; expected portable or avx2 here (docs/environment.md)")]
    [TestCase("AVX512", false, false,
        "DFER_CPU_ISA=AVX512: this CPU lacks AVX2 and FMA; expected portable here (docs/environment.md)")]
    [TestCase("avx2", false, false,
        "DFER_CPU_ISA=avx2: this CPU lacks AVX2 and FMA; expected portable here (docs/environment.md)")]
    public void UnknownValue_OrMissingPath_IsOneLine(string value, bool avx2Fma, bool avx512F, string line)
    {
        var e = Assert.Throws<DferException>(() => EngineEnvironment.ParseCpuIsa(value, avx2Fma, avx512F))!;
        Assert.That(e.Message, Is.EqualTo(line));
    }

    [Test]
    public void EachValue_PinsItsPath_WhereThisCpuHasIt()
    {
        foreach (CpuIsa isa in Enum.GetValues<CpuIsa>().Where(CpuPeak.Runs))
        {
            CpuVariants v = CpuVariants.FromIsa(isa);
            Assert.That(v.Isa, Is.EqualTo(isa), CpuVariants.Name(isa));
            Assert.That(v.UseSimd, Is.EqualTo(isa != CpuIsa.Portable), CpuVariants.Name(isa));
            Assert.That(v.UseAvx512, Is.EqualTo(isa == CpuIsa.Avx512), CpuVariants.Name(isa));
            Assert.That(v.Forced && v.Reason == "forced by DFER_CPU_ISA", Is.True);
            Assert.That(v.Describe(), Does.StartWith(CpuVariants.Name(isa) + " (forced by DFER_CPU_ISA; "));
        }
        Assert.That(new CpuVariants().Isa, Is.EqualTo(CpuVariants.Best));
        Assert.That(CpuPeak.Runs(CpuVariants.Best), Is.True);
        // The default follows the variable, parsed once (the test process runs without it, or with a valid one).
        Assert.That(CpuVariants.Default, Is.EqualTo(CpuVariants.FromIsa(EngineEnvironment.CpuIsa)));
    }

    [Test]
    public void Describe_SaysThePathAndWhy()
    {
        string best = new CpuVariants().Describe();
        Assert.That(best, Is.EqualTo(CpuVariants.Best switch
        {
            CpuIsa.Avx512 => "avx512 (AVX-512F: 512-bit GEMM, attention and dot-product tiles; other kernels AVX2+FMA)",
            CpuIsa.Avx2 => "avx2 (AVX2+FMA; this CPU lacks AVX-512F)",
            _ => "portable (no intrinsics; this CPU lacks AVX2+FMA)",
        }));
        Assert.That(new CpuVariants().Reason, Is.EqualTo("the best this CPU has"));
        if (CpuVariants.SimdSupported)
            Assert.That(new CpuVariants { Portable = true }.Describe(),
                Is.EqualTo("portable (pinned by code; no intrinsics)"));
        if (CpuVariants.Avx512Supported)
            Assert.That(new CpuVariants { Avx512 = false }.Describe(),
                Is.EqualTo("avx2 (pinned by code; AVX2+FMA; 512-bit paths off)"));
        using var backend = new CpuBackend(1, new CpuVariants { Portable = true });
        Assert.That(backend.Device, Does.EndWith(", " + backend.Variants.Describe()));
        Assert.That(CpuContext.Isa, Is.EqualTo(CpuVariants.Default.Describe()));
    }

    /// <summary>A refused DFER_CPU_ISA makes the cpu backend unavailable with that line, so `dfer devices` still lists
    /// the rest and opening it names the variable.</summary>
    [Test]
    public void RefusedVariable_MakesTheCpuBackendUnavailable()
    {
        const string line = "DFER_CPU_ISA=sse: expected portable, avx2 or avx512 (docs/environment.md)";
        var refused = Dfer.Backends.BackendRegistry.CpuInfo(line);
        Assert.That(refused.Available, Is.False);
        Assert.That(refused.UnavailableReason, Is.EqualTo(line));
        Assert.That(refused.Description, Does.Not.Contain("DFER_CPU_ISA"), "the reason is said once");
        var open = Dfer.Backends.BackendRegistry.CpuInfo(null);
        Assert.That(open.Available, Is.True);
        Assert.That(open.Description, Does.EndWith(", " + CpuContext.Isa));
    }

    /// <summary>The roofline of a CPU backend is measured on the path its kernels take.</summary>
    [Test]
    public void PeakPath_FollowsTheBackendsPath()
    {
        foreach (CpuIsa isa in Enum.GetValues<CpuIsa>().Where(CpuPeak.Runs))
        {
            using var backend = new CpuBackend(1, CpuVariants.FromIsa(isa));
            Assert.That(DevicePeaks.CpuPath(backend), Is.EqualTo(isa));
        }
        using var reference = new ReferenceBackend();
        Assert.That(DevicePeaks.CpuPath(reference), Is.EqualTo(CpuVariants.Default.Isa));
        Assert.That(CpuPeak.Lanes(CpuIsa.Avx512), Is.EqualTo(16));
        Assert.That(CpuPeak.Lanes(CpuIsa.Avx2), Is.EqualTo(8));
        Assert.That(CpuPeak.Lanes(CpuIsa.Portable), Is.EqualTo(Vector<float>.Count));
        // Enough chains to cover 4 cycles of FMA latency on two pipes (8 in flight), within the registers.
        Assert.That(CpuPeak.Chains(CpuIsa.Avx512), Is.InRange(12, 30));
        Assert.That(CpuPeak.Chains(CpuIsa.Avx2), Is.InRange(12, 14));
        Assert.That(CpuPeak.MeasureGflops(1, CpuIsa.Avx512, 0.001),
            CpuVariants.Avx512Supported ? Is.GreaterThan(0) : Is.Zero, "0 only where this CPU lacks the path");
    }

    /// <summary>The FLOP formula the peak divides by is what the loop does: run with multiplier 1 and addend 1 from
    /// zero, every lane counts its own multiply-adds.</summary>
    [TestCase(1)]
    [TestCase(37)]
    [TestCase(1000)]
    public void PeakLoop_FlopFormula_MatchesCountedMultiplyAdds(int iterations)
    {
        foreach (CpuIsa isa in Enum.GetValues<CpuIsa>().Where(CpuPeak.Runs))
            Assert.That(CpuPeak.Flops(isa, iterations), Is.EqualTo(2 * CpuPeak.CountMultiplyAdds(isa, iterations)),
                CpuVariants.Name(isa));
    }
}
