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
        catch { return false; }   // a finalizer must not throw (design.md)
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
