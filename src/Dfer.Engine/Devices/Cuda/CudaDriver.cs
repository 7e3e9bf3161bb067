using System.Runtime.InteropServices;

namespace Dfer.Devices.Cuda;

/// <summary>
/// The CUDA driver API calls the native backend makes, bound directly to libcuda.
/// <para>
/// Why not only ILGPU's <c>CudaAPI</c>: it lacks cuGetErrorName, cuFuncSetAttribute/cuFuncGetAttribute,
/// binary (cubin) module loading with JIT log options, the graph calls and cuMemHostAlloc, and it wraps
/// statuses in its own enum. Binding all driver calls here keeps one set of signatures and sends every
/// status through <see cref="CudaCheck"/>. ILGPU is still used for what it already owns: the context
/// (<c>Accelerator.NativePtr</c>), the default stream, device properties and memory buffers. Both bind to
/// the same libcuda, so they share the process's driver state and the context.
/// </para>
/// Names with a <c>_v2</c> suffix are the exported symbols cuda.h maps the plain names to.
/// Every method returns a CUresult (0 = CUDA_SUCCESS); callers check it with
/// <see cref="CudaCheck.Check(int, string)"/>.
/// </summary>
internal static unsafe partial class CudaDriver
{
    static CudaDriver() => NativeLibraries.EnsureRegistered();

    /// <summary>Loads and touches the driver library; false when it is not installed.</summary>
    internal static bool IsLoadable
    {
        get
        {
            NativeLibraries.EnsureRegistered();
            return NativeLibraries.DriverLibrary != IntPtr.Zero;
        }
    }

    // ---- errors (no context or cuInit needed)
    [LibraryImport(NativeLibraries.Driver)] internal static partial int cuGetErrorName(int status, out IntPtr name);
    [LibraryImport(NativeLibraries.Driver)] internal static partial int cuGetErrorString(int status, out IntPtr text);

    // ---- context
    [LibraryImport(NativeLibraries.Driver)] internal static partial int cuInit(uint flags);
    [LibraryImport(NativeLibraries.Driver)] internal static partial int cuCtxGetCurrent(out IntPtr context);
    [LibraryImport(NativeLibraries.Driver)] internal static partial int cuCtxSetCurrent(IntPtr context);
    [LibraryImport(NativeLibraries.Driver)] internal static partial int cuCtxGetDevice(out int device);
    [LibraryImport(NativeLibraries.Driver)] internal static partial int cuCtxSynchronize();
    [LibraryImport(NativeLibraries.Driver)]
    internal static partial int cuDeviceGetAttribute(out int value, int attribute, int device);

    // ---- modules and functions
    [LibraryImport(NativeLibraries.Driver)]
    internal static partial int cuModuleLoadDataEx(out IntPtr module, void* image, uint numOptions, int* options,
        void** optionValues);
    [LibraryImport(NativeLibraries.Driver)] internal static partial int cuModuleUnload(IntPtr module);
    [LibraryImport(NativeLibraries.Driver)]
    internal static partial int cuModuleGetFunction(out IntPtr function, IntPtr module, byte* name);
    [LibraryImport(NativeLibraries.Driver)]
    internal static partial int cuFuncSetAttribute(IntPtr function, int attribute, int value);
    [LibraryImport(NativeLibraries.Driver)]
    internal static partial int cuFuncGetAttribute(out int value, int attribute, IntPtr function);

    [LibraryImport(NativeLibraries.Driver)]
    internal static partial int cuOccupancyMaxActiveBlocksPerMultiprocessor(out int numBlocks, IntPtr function,
        int blockSize, nuint dynamicSmemBytes);

    [LibraryImport(NativeLibraries.Driver)]
    internal static partial int cuLaunchKernel(IntPtr function, uint gridX, uint gridY, uint gridZ, uint blockX,
        uint blockY, uint blockZ,
        uint sharedMemBytes, IntPtr stream, void** kernelParams, void** extra);

    // ---- streams, memory
    [LibraryImport(NativeLibraries.Driver)] internal static partial int cuStreamCreate(out IntPtr stream, uint flags);
    [LibraryImport(NativeLibraries.Driver, EntryPoint = "cuStreamDestroy_v2")]
    internal static partial int cuStreamDestroy(IntPtr stream);
    [LibraryImport(NativeLibraries.Driver)] internal static partial int cuStreamSynchronize(IntPtr stream);
    [LibraryImport(NativeLibraries.Driver)]
    internal static partial int cuMemsetD8Async(IntPtr devicePtr, byte value, nuint count, IntPtr stream);
    [LibraryImport(NativeLibraries.Driver)]
    internal static partial int cuMemsetD32Async(IntPtr devicePtr, uint value, nuint count, IntPtr stream);
    [LibraryImport(NativeLibraries.Driver, EntryPoint = "cuMemcpyHtoDAsync_v2")]
    internal static partial int cuMemcpyHtoDAsync(IntPtr dstDevice, IntPtr srcHost, nuint bytes, IntPtr stream);
    [LibraryImport(NativeLibraries.Driver, EntryPoint = "cuMemcpyDtoHAsync_v2")]
    internal static partial int cuMemcpyDtoHAsync(IntPtr dstHost, IntPtr srcDevice, nuint bytes, IntPtr stream);
    [LibraryImport(NativeLibraries.Driver)]
    internal static partial int cuMemHostAlloc(out IntPtr hostPtr, nuint bytes, uint flags);
    [LibraryImport(NativeLibraries.Driver)] internal static partial int cuMemFreeHost(IntPtr hostPtr);

    // ---- events
    [LibraryImport(NativeLibraries.Driver)] internal static partial int cuEventCreate(out IntPtr evt, uint flags);
    [LibraryImport(NativeLibraries.Driver)] internal static partial int cuEventRecord(IntPtr evt, IntPtr stream);
    [LibraryImport(NativeLibraries.Driver)] internal static partial int cuEventSynchronize(IntPtr evt);
    [LibraryImport(NativeLibraries.Driver)]
    internal static partial int cuStreamWaitEvent(IntPtr stream, IntPtr evt, uint flags);
    [LibraryImport(NativeLibraries.Driver)]
    internal static partial int cuEventElapsedTime(out float milliseconds, IntPtr start, IntPtr end);
    [LibraryImport(NativeLibraries.Driver, EntryPoint = "cuEventDestroy_v2")]
    internal static partial int cuEventDestroy(IntPtr evt);

    // ---- graphs (stream capture; the legacy NULL stream cannot be captured)
    [LibraryImport(NativeLibraries.Driver, EntryPoint = "cuStreamBeginCapture_v2")]
    internal static partial int cuStreamBeginCapture(IntPtr stream, int mode);
    [LibraryImport(NativeLibraries.Driver)]
    internal static partial int cuStreamEndCapture(IntPtr stream, out IntPtr graph);
    [LibraryImport(NativeLibraries.Driver)]
    internal static partial int cuGraphInstantiateWithFlags(out IntPtr graphExec, IntPtr graph, ulong flags);
    [LibraryImport(NativeLibraries.Driver)] internal static partial int cuGraphLaunch(IntPtr graphExec, IntPtr stream);
    [LibraryImport(NativeLibraries.Driver)] internal static partial int cuGraphExecDestroy(IntPtr graphExec);
    [LibraryImport(NativeLibraries.Driver)] internal static partial int cuGraphDestroy(IntPtr graph);

    /// <summary>
    /// cuFuncGetParamInfo (driver 12.4+), looked up by hand because older drivers lack it; null there.
    /// Used only to check that a launch passes arguments of the sizes the kernel declares.
    /// </summary>
    internal static delegate* unmanaged<IntPtr, nuint, nuint*, nuint*, int> FuncGetParamInfo =>
        IsLoadable && NativeLibrary.TryGetExport(NativeLibraries.DriverLibrary, "cuFuncGetParamInfo", out IntPtr p)
            ? (delegate* unmanaged<IntPtr, nuint, nuint*, nuint*, int>)p
            : null;

    // CUjit_option
    internal const int JitInfoLogBuffer = 3, JitInfoLogBufferSizeBytes = 4, JitErrorLogBuffer = 5,
        JitErrorLogBufferSizeBytes = 6,
        JitLogVerbose = 12;
    // CUfunction_attribute
    internal const int FuncMaxThreadsPerBlock = 0, FuncSharedSizeBytes = 1, FuncLocalSizeBytes = 3, FuncNumRegs = 4,
        FuncMaxDynamicSharedSizeBytes = 8;
    // CUevent_flags: no timestamps, the cheapest event for ordering streams
    internal const uint EventDisableTiming = 2;
    // CUstreamCaptureMode: only this thread's unsafe calls (allocations, synchronisation) invalidate a capture
    internal const int StreamCaptureModeThreadLocal = 1;
    // CUdevice_attribute
    internal const int DeviceMaxSharedMemoryPerBlockOptin = 97;
    // CUresult values the host reacts to (the rest are only reported)
    internal const int ErrorInvalidImage = 200, ErrorNoBinaryForGpu = 209, ErrorInvalidPtx = 218,
        ErrorUnsupportedPtxVersion = 222;
}
