using System.Runtime.Intrinsics.X86;
using Dfer.Tensors;

namespace Dfer.Devices.Cpu;

/// <summary>What a CPU kernel runs with: the thread pool and reusable per-thread scratch memory.</summary>
public sealed class CpuContext : IDisposable
{
    private readonly NativeBuffer?[] _scratch;

    /// <param name="threads">Worker threads, at most <see cref="CpuThreadPool.MaxThreads"/>; 0 (or less): one per logical core, within that bound.</param>
    public CpuContext(int threads = 0)
    {
        Pool = new CpuThreadPool(threads > 0 ? threads : Math.Min(Environment.ProcessorCount, CpuThreadPool.MaxThreads));
        _scratch = new NativeBuffer?[Pool.Threads];
    }

    public CpuThreadPool Pool { get; }
    public int Threads => Pool.Threads;

    /// <summary>The instruction set the kernels use here, for `dfer devices` and reports.</summary>
    public static string Isa =>
        Avx512F.IsSupported ? "AVX-512 (kernels use AVX2+FMA)" :
        Fma.IsSupported && Avx2.IsSupported ? "AVX2+FMA" : "portable (no AVX2/FMA)";

    /// <summary>Kernels take the SIMD path only with AVX2 and FMA; tests can force the portable path.</summary>
    public static bool UseSimd => Avx2.IsSupported && Fma.IsSupported && !ForcePortable;

    internal static bool ForcePortable { get; set; }

    /// <summary>At least <paramref name="floats"/> floats of scratch owned by <paramref name="thread"/>; grows, never shrinks.</summary>
    public unsafe float* Scratch(int thread, long floats) => (float*)ScratchBuffer(thread, floats).Pointer;

    /// <summary>The buffer behind <see cref="Scratch"/>, for kernels that build tensor views on it.</summary>
    public NativeBuffer ScratchBuffer(int thread, long floats)
    {
        var buf = _scratch[thread];
        if (buf == null || buf.Bytes < floats * sizeof(float))
        {
            buf?.Dispose();
            buf = _scratch[thread] = new NativeBuffer(floats * sizeof(float));
        }
        return buf;
    }

    public void Dispose()
    {
        Pool.Dispose();
        foreach (var b in _scratch) b?.Dispose();
    }
}
