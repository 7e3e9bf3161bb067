namespace Dfer.Devices.Cuda;

/// <summary>
/// A kernel function loaded on one <see cref="CudaDevice"/>: its CUfunction, launch-table entry and
/// resource use. Obtained from <see cref="CudaDevice.Kernel"/>; valid while that device is.
/// </summary>
public sealed class CudaKernel
{
    internal CudaKernel(string module, string name, IntPtr function, KernelLaunch? launch, int registers,
        int localBytes,
        int staticSharedBytes, int maxThreadsPerBlock, int[]? parameterSizes)
    {
        Module = module;
        Name = name;
        Function = function;
        Launch = launch;
        Registers = registers;
        LocalBytes = localBytes;
        StaticSharedBytes = staticSharedBytes;
        MaxThreadsPerBlock = maxThreadsPerBlock;
        ParameterSizes = parameterSizes;
    }

    /// <summary>The module (NAME of NAME.cu).</summary>
    public string Module { get; }

    /// <summary>The extern "C" kernel name.</summary>
    public string Name { get; }

    /// <summary>The CUfunction.</summary>
    internal IntPtr Function { get; }

    /// <summary>The kernel's <c>// launch</c> line in its source, or null when it has none.</summary>
    public KernelLaunch? Launch { get; }

    /// <summary>Registers per thread (CU_FUNC_ATTRIBUTE_NUM_REGS).</summary>
    public int Registers { get; }

    /// <summary>Local memory per thread in bytes (CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES); non-zero usually means register
    /// spills.</summary>
    public int LocalBytes { get; }

    /// <summary>Static shared memory per block in bytes (CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES).</summary>
    public int StaticSharedBytes { get; }

    /// <summary>The most threads per block this kernel can be launched with
    /// (CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK).</summary>
    public int MaxThreadsPerBlock { get; }

    /// <summary>Byte size of each parameter (cuFuncGetParamInfo, driver 12.4+); null when the driver cannot
    /// tell.</summary>
    internal int[]? ParameterSizes { get; }

    /// <summary>The dynamic shared memory limit already raised with cuFuncSetAttribute (48 KiB is the
    /// default).</summary>
    internal int DynamicSmemLimit { get; set; } = CudaDevice.DefaultDynamicSmemLimit;

    /// <inheritdoc/>
    public override string ToString()
        => $"{Name} ({Registers} regs, {LocalBytes} B local, {StaticSharedBytes} B static smem)";
}
