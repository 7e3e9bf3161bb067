using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Dfer.Devices.Cpu;

/// <summary>
/// Measures this machine's fp32 peak on one instruction-set path (docs/performance.md): every thread runs
/// independent register-only chains (no memory traffic) for a fixed time. Reports are only as good as the machine is
/// quiet. The chains per loop cover the FMA latency (4 cycles) on two FMA pipes, 8 in flight, with room to spare:
/// avx512 runs 16 chains of 512-bit FMAs (16 of the 32 zmm registers, 2 more for the constants), avx2 12 chains of
/// 256-bit FMAs (14 of the 16 ymm registers AVX2 has), portable 12 chains of .NET's cross-platform vectors
/// (<c>Vector&lt;float&gt;</c>) with a multiply then an add, no FMA: the most code without intrinsics can get.
/// </summary>
public static class CpuPeak
{
    /// <summary>Independent accumulators of each path's loop.</summary>
    public static int Chains(CpuIsa isa) => isa switch
    {
        CpuIsa.Avx512 => 16,
        _ => 12,
    };

    /// <summary>Lanes (floats) of each path's vectors: 16, 8, and <c>Vector&lt;float&gt;.Count</c> for
    /// portable.</summary>
    public static int Lanes(CpuIsa isa) => isa switch
    {
        CpuIsa.Avx512 => Vector512<float>.Count,
        CpuIsa.Avx2 => Vector256<float>.Count,
        _ => Vector<float>.Count,
    };

    /// <summary>FLOPs of <paramref name="iterations"/> iterations of <paramref name="isa"/>'s loop: every chain does
    /// one multiply and one add per lane (fused or not).</summary>
    public static double Flops(CpuIsa isa, long iterations) => 2.0 * iterations * Chains(isa) * Lanes(isa);

    /// <summary>What the loop of <paramref name="isa"/> runs, for reports, e.g. "512-bit FMA, 16 chains".</summary>
    public static string Describe(CpuIsa isa) => isa switch
    {
        CpuIsa.Avx512 => $"512-bit FMA, {Chains(isa)} chains",
        CpuIsa.Avx2 => $"256-bit FMA, {Chains(isa)} chains",
        _ => $"{Lanes(isa) * 32}-bit Vector<float> multiply then add, {Chains(isa)} chains",
    };

    /// <summary>Whether this CPU runs <paramref name="isa"/>'s loop.</summary>
    public static bool Runs(CpuIsa isa) => isa switch
    {
        CpuIsa.Avx512 => CpuVariants.Avx512Supported,
        CpuIsa.Avx2 => CpuVariants.SimdSupported,
        _ => true,
    };

    /// <summary>Achievable fp32 GFLOP/s with <paramref name="threads"/> threads on the path a CPU backend opened
    /// without pins takes (<see cref="CpuVariants.Default"/>).</summary>
    public static double MeasureGflops(int threads) => MeasureGflops(threads, CpuVariants.Default.Isa);

    /// <summary>Achievable fp32 GFLOP/s with <paramref name="threads"/> threads on <paramref name="isa"/>'s loop
    /// (0 when this CPU lacks that path), each thread running for <paramref name="seconds"/>.</summary>
    public static double MeasureGflops(int threads, CpuIsa isa, double seconds = 0.3)
    {
        if (!Runs(isa)) return 0;
        var results = new double[threads];
        var workers = Enumerable.Range(0, threads)
            .Select(i => new Thread(() => results[i] = RunOne(isa, seconds))).ToArray();
        foreach (var w in workers) w.Start();
        foreach (var w in workers) w.Join();
        return results.Sum();
    }

    /// <summary>
    /// Achievable memory bandwidth in GB/s: <paramref name="threads"/> threads each copy their slice
    /// of a buffer far larger than the caches, best of a few rounds; a copy counts its bytes read and written.
    /// </summary>
    public static double MeasureCopyGBps(int threads, long bytes = 256L << 20, int rounds = 4)
    {
        int n = (int)(bytes / sizeof(float));
        var source = GC.AllocateUninitializedArray<float>(n);
        var target = GC.AllocateUninitializedArray<float>(n);
        source.AsSpan().Fill(1f);
        target.AsSpan().Fill(0f);
        int chunk = (n + threads - 1) / threads;
        double best = 0;
        for (int r = 0; r < rounds; r++)
        {
            var sw = Stopwatch.StartNew();
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
            {
                int start = t * chunk, length = Math.Min(chunk, n - start);
                if (length > 0) source.AsSpan(start, length).CopyTo(target.AsSpan(start, length));
            });
            best = Math.Max(best, 2.0 * n * sizeof(float) / sw.Elapsed.TotalSeconds / 1e9);
        }
        return best;
    }

    private static double RunOne(CpuIsa isa, double seconds)
    {
        const int Step = 1 << 16;
        long iterations = 0;
        float sink = 0;
        Run(isa, 1024, 0.999999f, 1e-7f);   // compiled and warm before the clock starts
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed.TotalSeconds < seconds)
        {
            sink += Run(isa, Step, 0.999999f, 1e-7f);
            iterations += Step;
        }
        double elapsed = sw.Elapsed.TotalSeconds;
        if (sink == 12345f) Console.Error.Write("");
        return Flops(isa, iterations) / elapsed / 1e9;
    }

    /// <summary>
    /// Counts the lane operations of <paramref name="iterations"/> iterations of <paramref name="isa"/>'s loop by
    /// running it with multiplier 1 and addend 1 from zero: every lane of every chain then holds the number of
    /// multiply-adds it did, and their sum is the loop's count (exact while it stays below 2^24).
    /// </summary>
    internal static double CountMultiplyAdds(CpuIsa isa, int iterations) => Run(isa, iterations, 1f, 1f, 0f);

    /// <summary><paramref name="isa"/>'s loop; the sum of every lane of every chain.</summary>
    private static float Run(CpuIsa isa, int n, float m, float a, float start = 1f) => isa switch
    {
        CpuIsa.Avx512 => Vector512.Sum(Chains512(n, Vector512.Create(m), Vector512.Create(a), Vector512.Create(start))),
        CpuIsa.Avx2 => Vector256.Sum(Chains256(n, Vector256.Create(m), Vector256.Create(a), Vector256.Create(start))),
        _ => Vector.Sum(ChainsPortable(n, new Vector<float>(m), new Vector<float>(a), new Vector<float>(start))),
    };

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static Vector512<float> Chains512(int n, Vector512<float> m, Vector512<float> a, Vector512<float> c0)
    {
        Vector512<float> c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0,
            c11 = c0, c12 = c0, c13 = c0, c14 = c0, c15 = c0;
        for (int i = 0; i < n; i++)
        {
            c0 = Avx512F.FusedMultiplyAdd(c0, m, a); c1 = Avx512F.FusedMultiplyAdd(c1, m, a);
            c2 = Avx512F.FusedMultiplyAdd(c2, m, a); c3 = Avx512F.FusedMultiplyAdd(c3, m, a);
            c4 = Avx512F.FusedMultiplyAdd(c4, m, a); c5 = Avx512F.FusedMultiplyAdd(c5, m, a);
            c6 = Avx512F.FusedMultiplyAdd(c6, m, a); c7 = Avx512F.FusedMultiplyAdd(c7, m, a);
            c8 = Avx512F.FusedMultiplyAdd(c8, m, a); c9 = Avx512F.FusedMultiplyAdd(c9, m, a);
            c10 = Avx512F.FusedMultiplyAdd(c10, m, a); c11 = Avx512F.FusedMultiplyAdd(c11, m, a);
            c12 = Avx512F.FusedMultiplyAdd(c12, m, a); c13 = Avx512F.FusedMultiplyAdd(c13, m, a);
            c14 = Avx512F.FusedMultiplyAdd(c14, m, a); c15 = Avx512F.FusedMultiplyAdd(c15, m, a);
        }
        return ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11))
            + ((c12 + c13) + (c14 + c15));
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static Vector256<float> Chains256(int n, Vector256<float> m, Vector256<float> a, Vector256<float> c0)
    {
        Vector256<float> c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0,
            c11 = c0;
        for (int i = 0; i < n; i++)
        {
            c0 = Fma.MultiplyAdd(c0, m, a); c1 = Fma.MultiplyAdd(c1, m, a); c2 = Fma.MultiplyAdd(c2, m, a);
            c3 = Fma.MultiplyAdd(c3, m, a); c4 = Fma.MultiplyAdd(c4, m, a); c5 = Fma.MultiplyAdd(c5, m, a);
            c6 = Fma.MultiplyAdd(c6, m, a); c7 = Fma.MultiplyAdd(c7, m, a); c8 = Fma.MultiplyAdd(c8, m, a);
            c9 = Fma.MultiplyAdd(c9, m, a); c10 = Fma.MultiplyAdd(c10, m, a); c11 = Fma.MultiplyAdd(c11, m, a);
        }
        return ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11));
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static Vector<float> ChainsPortable(int n, Vector<float> m, Vector<float> a, Vector<float> c0)
    {
        Vector<float> c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0,
            c11 = c0;
        for (int i = 0; i < n; i++)
        {
            c0 = c0 * m + a; c1 = c1 * m + a; c2 = c2 * m + a; c3 = c3 * m + a; c4 = c4 * m + a; c5 = c5 * m + a;
            c6 = c6 * m + a; c7 = c7 * m + a; c8 = c8 * m + a; c9 = c9 * m + a; c10 = c10 * m + a; c11 = c11 * m + a;
        }
        return ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7)) + ((c8 + c9) + (c10 + c11));
    }
}
