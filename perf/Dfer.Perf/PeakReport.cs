using Dfer.Devices.Cpu;

namespace Dfer.Perf;

/// <summary>
/// <c>--peak</c>: the fp32 peak of every instruction-set path's register-only loop (CpuPeak) side by side, per core
/// and on all the run's threads, so the 512-bit and 256-bit figures come from one run. Each figure is the best of
/// three tries: a shared machine only ever slows a try down.
/// </summary>
internal static class PeakReport
{
    public static void Run(int threads, double seconds)
    {
        Console.WriteLine($"fp32 peak, register-only chains, best of 3 × {seconds:0.##} s; kernels here: "
            + CpuContext.Isa);
        Console.WriteLine($"{"path",-9} {"loop",-52} {"GFLOP/s/core",12} {$"GFLOP/s×{threads}",13}");
        var perCore = new Dictionary<CpuIsa, double>();
        foreach (CpuIsa isa in new[] { CpuIsa.Avx512, CpuIsa.Avx2, CpuIsa.Portable })
        {
            if (!CpuPeak.Runs(isa))
            {
                Console.WriteLine($"{CpuVariants.Name(isa),-9} {CpuPeak.Describe(isa),-52} {"(not on this CPU)",26}");
                continue;
            }
            double one = Best(() => CpuPeak.MeasureGflops(1, isa, seconds));
            double all = Best(() => CpuPeak.MeasureGflops(threads, isa, seconds));
            perCore[isa] = one;
            Console.WriteLine($"{CpuVariants.Name(isa),-9} {CpuPeak.Describe(isa),-52} {one,12:F1} {all,13:F1}");
        }
        if (perCore.TryGetValue(CpuIsa.Avx512, out double wide) && perCore.TryGetValue(CpuIsa.Avx2, out double narrow))
            Console.WriteLine($"per core: 512-bit {wide:F1} GFLOP/s, 256-bit {narrow:F1} GFLOP/s "
                + $"({wide / narrow:F2}x)");
    }

    private static double Best(Func<double> measure) => Enumerable.Range(0, 3).Max(_ => measure());
}
