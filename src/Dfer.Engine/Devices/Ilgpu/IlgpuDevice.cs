using System.Collections.Concurrent;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace Dfer.Devices.Ilgpu;

/// <summary>Which ILGPU accelerator a device wraps.</summary>
public enum IlgpuTarget
{
    /// <summary>ILGPU's CPU accelerator: the kernels run as .NET code on simulated warps, on every machine.</summary>
    Cpu,

    /// <summary>ILGPU's CUDA accelerator: the kernels compile to PTX for the first NVIDIA GPU.</summary>
    Cuda,
}

/// <summary>
/// An ILGPU context and accelerator, with the kernels loaded on it (each once) and buffer helpers.
/// Owned by one backend; not thread-safe.
/// </summary>
public sealed class IlgpuDevice : IDisposable
{
    private readonly Context _context;
    private readonly ConcurrentDictionary<Delegate, Delegate> _kernels = new();
    private MemoryBuffer1D<float, Stride1D.Dense>? _dummy;

    private IlgpuDevice(Context context, Accelerator accelerator, IlgpuTarget target, IlgpuVariants variants)
    {
        _context = context;
        Accelerator = accelerator;
        Target = target;
        Variants = variants;
    }

    public Accelerator Accelerator { get; }
    public IlgpuTarget Target { get; }

    /// <summary>The variant pins kernels consult on this device (the one place the ILGPU backends' variants are chosen
    /// from).</summary>
    public IlgpuVariants Variants { get; }

    /// <summary>The device in words, for reports.</summary>
    public string Description => Target == IlgpuTarget.Cpu
        ? $"ILGPU CPU accelerator ({Accelerator.MaxNumThreadsPerGroup} threads per group, {Environment.ProcessorCount} "
            + "cores)"
        : $"{Accelerator.Name} via ILGPU CUDA ({Accelerator.MemorySize / (1L << 30)} GiB)";

    /// <summary>
    /// Opens the accelerator; a missing CUDA device is a <see cref="DferException"/> saying why. Kernels on it take
    /// <paramref name="variants"/>' pins, by default the environment's (<see cref="IlgpuVariants.FromEnvironment"/>).
    /// </summary>
    public static IlgpuDevice Open(IlgpuTarget target, IlgpuVariants? variants = null)
    {
        if (target == IlgpuTarget.Cuda && CudaUnavailableReason() is string reason)
            throw new DferException($"backend ilgpu-cuda: {reason}");
        variants ??= IlgpuVariants.FromEnvironment();
        Context context = Context.Create(b =>
        {
            b.Optimize(OptimizationLevel.O2).EnableAlgorithms();
            // The CPU accelerator simulates an NVIDIA GPU's execution model (32-thread warps, groups of
            // up to 1024 threads), so the tiled kernels the GPU runs are the ones checked here.
            if (target == IlgpuTarget.Cpu) b.CPU(CPUDeviceKind.Nvidia);
            else b.Cuda();
        });
        try
        {
            Accelerator accelerator = target == IlgpuTarget.Cpu
                ? context.CreateCPUAccelerator(0)
                : context.CreateCudaAccelerator(0);
            return new IlgpuDevice(context, accelerator, target, variants);
        }
        catch
        {
            context.Dispose();
            throw;
        }
    }

    private static readonly Lazy<string?> CudaReason = new(() =>
    {
        try
        {
            using Context context = Context.Create(b => b.Cuda());
            return context.GetCudaDevices().Count > 0 ? null : "no NVIDIA GPU (or no CUDA driver) on this machine";
        }
        catch (Exception ex) when (ex is DllNotFoundException or TypeInitializationException
            or InvalidOperationException or NotSupportedException)
        {
            return $"the CUDA driver cannot be loaded ({ex.GetType().Name})";
        }
    });

    /// <summary>Null when ILGPU finds a CUDA device here; otherwise why not.</summary>
    public static string? CudaUnavailableReason() => CudaReason.Value;

    /// <summary>
    /// The kernel <paramref name="method"/> loaded on this accelerator by <paramref name="load"/>,
    /// compiled once per device (ILGPU compiles on load: PTX on CUDA).
    /// </summary>
    public TKernel Kernel<TKernel>(Delegate method, Func<Accelerator, TKernel> load) where TKernel : Delegate =>
        (TKernel)_kernels.GetOrAdd(method, _ => load(Accelerator));

    /// <summary>A device copy of <paramref name="data"/>.</summary>
    public MemoryBuffer1D<float, Stride1D.Dense> Upload(ReadOnlySpan<float> data)
    {
        var buffer = Accelerator.Allocate1D<float>(Math.Max(data.Length, 1));
        if (data.Length > 0) buffer.View.SubView(0, data.Length).CopyFromCPU(data.ToArray());
        return buffer;
    }

    /// <summary>An uninitialised device buffer of <paramref name="length"/> floats (at least one).</summary>
    public MemoryBuffer1D<float, Stride1D.Dense> Allocate(long length)
        => Accelerator.Allocate1D<float>(Math.Max(length, 1));

    /// <summary>A one-element buffer for kernel arguments a variant does not read (ILGPU views cannot be
    /// null).</summary>
    public ArrayView<float> Unused => (_dummy ??= Accelerator.Allocate1D<float>(1)).View;

    /// <summary>Waits for all queued work; ILGPU reports kernel faults here.</summary>
    public void Synchronize() => Accelerator.Synchronize();

    public void Dispose()
    {
        _dummy?.Dispose();
        Accelerator.Dispose();
        _context.Dispose();
    }
}
