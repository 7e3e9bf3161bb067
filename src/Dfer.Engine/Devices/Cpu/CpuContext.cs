using Dfer.Tensors;

namespace Dfer.Devices.Cpu;

/// <summary>What a CPU kernel runs with: the thread pool, reusable per-thread scratch memory and the variant
/// pins.</summary>
public sealed class CpuContext : IDisposable
{
    private readonly NativeBuffer?[] _scratch;

    /// <param name="threads">Worker threads, at most <see cref="CpuThreadPool.MaxThreads"/>; 0 (or less): one per
    /// logical core, within that bound.</param>
    /// <param name="variants">Variant pins for the kernels run here; null: none
    /// (<see cref="CpuVariants.Default"/>).</param>
    public CpuContext(int threads = 0, CpuVariants? variants = null)
    {
        Variants = variants ?? CpuVariants.Default;
        Pool = new CpuThreadPool(
            threads > 0 ? threads : Math.Min(Environment.ProcessorCount, CpuThreadPool.MaxThreads));
        _scratch = new NativeBuffer?[Pool.Threads];
    }

    public CpuThreadPool Pool { get; }

    /// <summary>The variant pins kernels consult here (the one place the CPU backend's variants are chosen
    /// from).</summary>
    public CpuVariants Variants { get; }
    public int Threads => Pool.Threads;

    /// <summary>The instruction-set path a CPU backend opened without pins takes, and why
    /// (<see cref="CpuVariants.Describe"/> of <see cref="CpuVariants.Default"/>), for `dfer devices` and reports; a bad
    /// DFER_CPU_ISA's one-line refusal instead.</summary>
    public static string Isa => CpuVariants.DefaultRefusal ?? CpuVariants.Default.Describe();

    /// <summary>Whether kernels take their SIMD path here: only with AVX2 and FMA, and not when <see cref="Variants"/>
    /// pins the portable one.</summary>
    public bool UseSimd => Variants.UseSimd;

    /// <summary>Whether kernels with a 512-bit path take it here (<see cref="CpuVariants.UseAvx512"/>).</summary>
    public bool UseAvx512 => Variants.UseAvx512;

    /// <summary>At least <paramref name="floats"/> floats of scratch owned by <paramref name="thread"/>; grows, never
    /// shrinks.</summary>
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
