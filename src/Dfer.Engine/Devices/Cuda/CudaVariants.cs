namespace Dfer.Devices.Cuda;

/// <summary>How the native LSTM runs its recurrence (Ops/Lstm: LstmCuda.Choose holds the rule).</summary>
public enum CudaLstmMode
{
    /// <summary>The rule decides: persistent where the grid fits, else one launch per step.</summary>
    Auto,

    /// <summary>One launch per time step.</summary>
    Step,

    /// <summary>One launch per layer; refused when the GPU cannot hold the grid.</summary>
    Persistent,
}

/// <summary>
/// The one place the native cuda backend's variants and execution modes are chosen from: each field is a pin or a
/// switch, and its default lets the kernel's own rule decide. Kernels read it as <see cref="CudaDevice.Variants"/>.
/// A device opened without one takes <see cref="FromEnvironment"/>; tests pass their own to <c>CudaDevice.Open</c>
/// or the CudaBackend constructor. (Which conv3d kernel runs per precision is the CudaBackend constructor's pin and
/// Conv3dCuda.Choose's table; ILGPU kernels on the same GPU read <see cref="Ilgpu.IlgpuVariants"/>.)
/// </summary>
public sealed record CudaVariants
{
    /// <summary>No pins, graphs on, no per-launch synchronisation.</summary>
    public static CudaVariants Default { get; } = new();

    /// <summary>Split-K ways asked of every conv3d (0 or 1: none), still bounded by Conv3dCuda.SplitK; null: the
    /// rule.</summary>
    public int? Conv3dSplitK { get; init; }

    /// <summary>How the LSTM runs its recurrence.</summary>
    public CudaLstmMode LstmMode { get; init; }

    /// <summary>Synchronise after every launch, so a fault names its kernel (and no CUDA graph is captured).</summary>
    public bool SyncEachLaunch { get; init; }

    /// <summary>Capture a forward pass into a CUDA graph and replay it; false runs eagerly.</summary>
    public bool Graphs { get; init; } = true;

    /// <summary>
    /// What the environment asks for: DFER_CONV3D_SPLITK, DFER_LSTM_MODE, DFER_CUDA_SYNC and DFER_CUDA_GRAPHS
    /// (<see cref="EngineEnvironment"/>; a bad value is a <see cref="DferException"/> naming the variable).
    /// </summary>
    public static CudaVariants FromEnvironment() => new()
    {
        Conv3dSplitK = EngineEnvironment.Conv3dSplitK,
        LstmMode = EngineEnvironment.LstmMode,
        SyncEachLaunch = EngineEnvironment.CudaSync,
        Graphs = EngineEnvironment.CudaGraphs,
    };
}
