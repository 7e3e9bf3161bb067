namespace Dfer.Devices.Ilgpu;

/// <summary>The conv3d kernels of the ILGPU backends (Ops/Conv3d: Conv3dIlgpu.Choose holds the per-shape
/// table).</summary>
public enum IlgpuConv3dVariant
{
    /// <summary>One thread per output element.</summary>
    Direct,

    /// <summary>An implicit GEMM in 64×64 tiles staged through shared memory.</summary>
    Tiled,
}

/// <summary>
/// The one place the ILGPU backends' kernel variants are chosen from: each field is a pin, and null lets the kernel's
/// own table decide. Kernels read it as <see cref="IlgpuDevice.Variants"/>. A backend opened without one takes
/// <see cref="FromEnvironment"/>; tests pass a pinned one to <c>new IlgpuBackend(target, variants)</c>.
/// </summary>
public sealed record IlgpuVariants
{
    /// <summary>No pins: every table decides.</summary>
    public static IlgpuVariants Default { get; } = new();

    /// <summary>The conv3d variant every convolution takes; null: the table (Conv3dIlgpu.Choose).</summary>
    public IlgpuConv3dVariant? Conv3d { get; init; }

    /// <summary>The pins the environment asks for: DFER_ILGPU_CONV3D (<see cref="EngineEnvironment"/>).</summary>
    public static IlgpuVariants FromEnvironment() => new() { Conv3d = EngineEnvironment.IlgpuConv3d };
}
