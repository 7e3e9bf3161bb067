using System.Runtime.InteropServices;

namespace Dfer.Tensors;

/// <summary>
/// 64-byte aligned, zero-initialised native memory that never moves, so kernels can hold raw
/// pointers across a whole forward pass without pinning.
/// </summary>
/// <remarks>
/// All buffers together stay within <see cref="Budget"/>. Linux hands out address space freely and
/// kills the process without a word when the pages are touched; a batch too large for the machine
/// must instead end with one line saying so (docs/limits.md), so every buffer is counted before it
/// is allocated.
/// </remarks>
public sealed unsafe class NativeBuffer : IDisposable
{
    private static long s_live;
    private void* _ptr;
    private readonly long _counted;

    public NativeBuffer(long bytes)
    {
        if (bytes < 0) throw new ArgumentOutOfRangeException(nameof(bytes));
        Bytes = bytes;
        _counted = Math.Max(bytes, 64);
        long live = Interlocked.Add(ref s_live, _counted);
        if (live > Budget)
        {
            Interlocked.Add(ref s_live, -_counted);
            throw OverBudget(live);
        }
        _ptr = NativeMemory.AlignedAlloc((nuint)_counted, 64);
        if (_ptr == null)
        {
            Interlocked.Add(ref s_live, -_counted);
            throw new DferException($"the system refused {Gib(_counted)} GiB of working memory; use a smaller --batch");
        }
        NativeMemory.Clear(_ptr, (nuint)_counted);
    }

    /// <summary>The share of <see cref="MachineBytes"/> that all native buffers together may take.</summary>
    public const int BudgetPercent = 80;

    /// <summary>The memory this process may use: the machine's, or its container's limit (the GC reads both).</summary>
    public static long MachineBytes { get; } = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;

    /// <summary>The most bytes all live buffers may hold together.</summary>
    public static long Budget { get; } = MachineBytes / 100 * BudgetPercent;

    /// <summary>Bytes held by live buffers now.</summary>
    public static long LiveBytes => Interlocked.Read(ref s_live);

    /// <summary>
    /// Refuses, before anything is allocated, a plan whose buffers (<paramref name="bytes"/> in all)
    /// would take the live buffers past <see cref="Budget"/>.
    /// </summary>
    public static void CheckBudget(long bytes)
    {
        long live = LiveBytes + bytes;
        if (bytes < 0 || live > Budget) throw OverBudget(bytes < 0 ? long.MaxValue : live);
    }

    private static DferException OverBudget(long live) =>
        new($"the working memory would reach {Gib(live)} GiB, more than the {Gib(Budget)} GiB Dfer allows itself on "
            + "this machine " +
            $"({BudgetPercent} % of the {Gib(MachineBytes)} GiB available to it); use a smaller --batch");

    private static string Gib(long bytes)
        => (bytes / (double)(1L << 30)).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture);

    public long Bytes { get; }

    public void* Pointer => _ptr != null ? _ptr : throw new ObjectDisposedException(nameof(NativeBuffer));

    public void Dispose()
    {
        if (_ptr != null)
        {
            NativeMemory.AlignedFree(_ptr);
            _ptr = null;
            Interlocked.Add(ref s_live, -_counted);
        }
        GC.SuppressFinalize(this);
    }

    ~NativeBuffer()
    {
        if (_ptr != null)
        {
            NativeMemory.AlignedFree(_ptr);
            Interlocked.Add(ref s_live, -_counted);
        }
    }
}
