using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Dfer.Devices.Cpu;

/// <summary>
/// Measures this machine's fp32 FMA peak: every thread runs independent register-only FMA chains
/// (no memory traffic) for a fixed time. Reports are only as good as the machine is quiet.
/// </summary>
public static class CpuPeak
{
    /// <summary>Achievable fp32 GFLOP/s with <paramref name="threads"/> threads (0 when the FMA path is
    /// unavailable).</summary>
    public static double MeasureGflops(int threads, double seconds = 0.3)
    {
        if (!CpuVariants.SimdSupported) return 0;
        var results = new double[threads];
        var workers = Enumerable.Range(0, threads).Select(i => new Thread(() => results[i] = RunOne(seconds)))
            .ToArray();
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

    private static double RunOne(double seconds)
    {
        long iterations = 0;
        var sw = Stopwatch.StartNew();
        var sink = Vector256<float>.Zero;
        while (sw.Elapsed.TotalSeconds < seconds)
        {
            sink += Chains(1 << 16);
            iterations += 1 << 16;
        }
        double elapsed = sw.Elapsed.TotalSeconds;
        if (sink[0] == 12345f) Console.Error.Write("");
        // 10 chains × 8 lanes × 2 flops per iteration.
        return iterations * 10.0 * 8 * 2 / elapsed / 1e9;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static Vector256<float> Chains(int n)
    {
        var m = Vector256.Create(0.999999f);
        var a = Vector256.Create(1e-7f);
        Vector256<float> c0 = Vector256.Create(1f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0,
            c8 = c0, c9 = c0;
        for (int i = 0; i < n; i++)
        {
            c0 = Fma.MultiplyAdd(c0, m, a); c1 = Fma.MultiplyAdd(c1, m, a); c2 = Fma.MultiplyAdd(c2, m, a);
            c3 = Fma.MultiplyAdd(c3, m, a); c4 = Fma.MultiplyAdd(c4, m, a); c5 = Fma.MultiplyAdd(c5, m, a);
            c6 = Fma.MultiplyAdd(c6, m, a); c7 = Fma.MultiplyAdd(c7, m, a); c8 = Fma.MultiplyAdd(c8, m, a);
            c9 = Fma.MultiplyAdd(c9, m, a);
        }
        return c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9;
    }
}
