using Microsoft.Win32.SafeHandles;

namespace Dfer.Devices.Cuda;

/// <summary>
/// A CUmodule. Released by cuModuleUnload; a failure there (e.g. the context is already gone at
/// process exit) is reported to the runtime as a failed release, never thrown.
/// </summary>
internal sealed class CudaModuleHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public CudaModuleHandle(IntPtr module) : base(ownsHandle: true) => SetHandle(module);

    protected override bool ReleaseHandle()
    {
        try { return CudaDriver.cuModuleUnload(handle) == 0; }
        catch { return false; }   // a finalizer must not throw (docs/architecture.md)
    }
}

/// <summary>A CUevent, released by cuEventDestroy; never throws on release.</summary>
internal sealed class CudaEventHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public CudaEventHandle(IntPtr evt) : base(ownsHandle: true) => SetHandle(evt);

    public static CudaEventHandle Create(uint flags)
    {
        CudaCheck.Check(CudaDriver.cuEventCreate(out IntPtr evt, flags));
        return new CudaEventHandle(evt);
    }

    protected override bool ReleaseHandle()
    {
        try { return CudaDriver.cuEventDestroy(handle) == 0; }
        catch { return false; }
    }
}

/// <summary>A CUstream the backend created (not ILGPU's), released by cuStreamDestroy; never throws on
/// release.</summary>
internal sealed class CudaStreamHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public CudaStreamHandle(IntPtr stream) : base(ownsHandle: true) => SetHandle(stream);

    protected override bool ReleaseHandle()
    {
        try { return CudaDriver.cuStreamDestroy(handle) == 0; }
        catch { return false; }
    }
}

/// <summary>An instantiated CUDA graph (CUgraphExec), released by cuGraphExecDestroy; never throws on
/// release.</summary>
internal sealed class CudaGraphExecHandle : SafeHandleZeroOrMinusOneIsInvalid
{
    public CudaGraphExecHandle(IntPtr exec) : base(ownsHandle: true) => SetHandle(exec);

    protected override bool ReleaseHandle()
    {
        try { return CudaDriver.cuGraphExecDestroy(handle) == 0; }
        catch { return false; }
    }
}

/// <summary>
/// Page-locked host memory (cuMemHostAlloc): copies from and to it run asynchronously on a stream at full
/// PCIe/NVLink speed. Released by cuMemFreeHost; never throws on release.
/// </summary>
internal sealed unsafe class PinnedHostBuffer : SafeHandleZeroOrMinusOneIsInvalid
{
    private PinnedHostBuffer(IntPtr host, long bytes) : base(ownsHandle: true)
    {
        SetHandle(host);
        Bytes = bytes;
    }

    /// <summary>Allocates <paramref name="bytes"/> (at least 1) of pinned memory; the context must be
    /// current.</summary>
    public static PinnedHostBuffer Allocate(long bytes)
    {
        CudaCheck.Check(CudaDriver.cuMemHostAlloc(out IntPtr host, (nuint)Math.Max(bytes, 1), 0),
            $"cuMemHostAlloc({bytes} bytes)");
        return new PinnedHostBuffer(host, bytes);
    }

    public long Bytes { get; }

    /// <summary>The first <paramref name="count"/> floats.</summary>
    public Span<float> Floats(long count)
    {
        if (count * sizeof(float) > Bytes)
            throw new ArgumentOutOfRangeException(nameof(count),
                $"{count} floats exceed the pinned buffer's {Bytes} bytes");
        return new Span<float>((void*)handle, checked((int)count));
    }

    protected override bool ReleaseHandle()
    {
        try { return CudaDriver.cuMemFreeHost(handle) == 0; }
        catch { return false; }
    }
}
