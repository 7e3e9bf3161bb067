using Dfer.Backends.Cpu;
using Dfer.Backends.Cuda;
using Dfer.Backends.Ilgpu;
using Dfer.Backends.Reference;
using Dfer.Devices.Cpu;
using Dfer.Devices.Cuda;
using Dfer.Devices.Ilgpu;
using Dfer.Ops;
using Dfer.Tensors;

namespace Dfer.Backends;

/// <summary>A backend as the registry knows it before one is created.</summary>
/// <param name="Name">CLI name.</param>
/// <param name="UnavailableReason">Null when it can run here; otherwise why not.</param>
/// <param name="Description">What it runs on.</param>
/// <param name="Supports">Which ops it has kernels for; a backend declares every op either way.</param>
/// <param name="IsOracle">The reference backend: what others are checked against, not checked itself.</param>
public sealed record BackendInfo(string Name, string? UnavailableReason, string Description,
    Func<OpKind, bool> Supports, bool IsOracle = false)
{
    public bool Available => UnavailableReason is null;
}

/// <summary>Backends by CLI name.</summary>
public static class BackendRegistry
{
    /// <summary>Every backend name, without probing devices.</summary>
    public static IReadOnlyList<string> Names { get; } = ["cpu", "ilgpu-cpu", "ilgpu-cuda", "cuda", "reference"];

    /// <summary>Every backend name, with whether it can run here and what it runs on.</summary>
    public static IReadOnlyList<BackendInfo> List() => new[]
    {
        CpuInfo(CpuVariants.DefaultRefusal),
        new BackendInfo("ilgpu-cpu", null,
            "ILGPU kernels on ILGPU's CPU accelerator (portable, slow: a check of the GPU kernels)",
            IlgpuBackend.SupportsKind),
        new BackendInfo("ilgpu-cuda", IlgpuDevice.CudaUnavailableReason(), "ILGPU kernels on an NVIDIA GPU (fp32)",
            IlgpuBackend.SupportsKind),
        new BackendInfo("cuda", CudaDevice.UnavailableReason(), CudaDescription, CudaBackend.SupportsKind),
        new BackendInfo("reference", null, "float64 plain loops: the numerical oracle, very slow", _ => true,
            IsOracle: true),
    };

    /// <summary>The cpu backend: unavailable only when DFER_CPU_ISA is refused (<paramref name="refusal"/>), otherwise
    /// described with the instruction-set path it takes.</summary>
    internal static BackendInfo CpuInfo(string? refusal) =>
        new("cpu", refusal,
            $"managed SIMD kernels, {Environment.ProcessorCount} threads"
            + (refusal is null ? $", {CpuContext.Isa}" : ""),
            CpuBackend.SupportsKind);

    /// <summary>What the cuda backend runs, from the registry: the kinds with a native kernel, ILGPU's for the
    /// rest.</summary>
    public static string CudaDescription =>
        $"native CUDA kernels (native/kernels/*.cu) "
        + $"for {string.Join(", ", OpRegistry.All.Where(k => k.HasNativeCuda).Select(k => k.Name))}, "
        + "ILGPU's for the other ops, on one CUDA context (conv3d in fp32, tf32, bf16 or fp16 by --precision; the "
        + "other ops fp32)";

    /// <summary>The precisions backend <paramref name="name"/> can compute in: all four on cuda, fp32
    /// elsewhere.</summary>
    public static IReadOnlyList<Precision> Precisions(string name) =>
        string.Equals(name, "cuda", StringComparison.OrdinalIgnoreCase) ? Enum.GetValues<Precision>()
        : [Precision.Fp32];

    /// <summary>
    /// Refuses <paramref name="precision"/> for a backend that does not compute in it, with one line
    /// naming the option, the backend and the way out (a <see cref="DferException"/>: exit code 2).
    /// </summary>
    public static void CheckPrecision(string name, Precision precision)
    {
        if (Precisions(name).Contains(precision)) return;
        string computes = string.Equals(name, "reference", StringComparison.OrdinalIgnoreCase) ? "float64" : "fp32";
        throw new DferException(
            $"--precision {precision.Name()}: backend {name.ToLowerInvariant()} computes in {computes} only; reduced "
            + "precision runs on --backend cuda");
    }

    /// <summary>What <paramref name="backend"/> computes in (fp32 for every backend but cuda, whose precision is its
    /// own; the reference backend's float64 counts as fp32's oracle).</summary>
    public static Precision PrecisionOf(IBackend backend)
        => backend is CudaBackend cuda ? cuda.Precision : Precision.Fp32;

    /// <summary>The name reports give <paramref name="backend"/>'s arithmetic: fp32, tf32, bf16, fp16, or fp64 for the
    /// reference backend.</summary>
    public static string PrecisionName(IBackend backend)
        => backend is ReferenceBackend ? "fp64" : PrecisionOf(backend).Name();

    /// <summary>
    /// Creates backend <paramref name="name"/>. <paramref name="threads"/> applies to cpu;
    /// <paramref name="precision"/> to cuda, the only backend with reduced-precision kernels — every
    /// other backend refuses anything but fp32 (<see cref="CheckPrecision"/>).
    /// </summary>
    public static IBackend Create(string name, int threads = 0, Precision precision = Precision.Fp32)
    {
        BackendInfo? info = List().FirstOrDefault(b => string.Equals(b.Name, name, StringComparison.OrdinalIgnoreCase));
        if (info is null)
            throw new DferException(
                $"unknown backend '{name}'; available "
                + $"here: {string.Join(", ", List().Where(b => b.Available).Select(b => b.Name))}");
        CheckPrecision(info.Name, precision);
        if (info.UnavailableReason is string reason)
            throw new DferException($"backend {info.Name} cannot run here: {reason}");
        return info.Name switch
        {
            "cpu" => new CpuBackend(threads),
            "ilgpu-cpu" => new IlgpuBackend(IlgpuTarget.Cpu),
            "ilgpu-cuda" => new IlgpuBackend(IlgpuTarget.Cuda),
            "cuda" => new CudaBackend(precision),
            "reference" => new ReferenceBackend(),
            _ => throw new DferException($"backend {info.Name} cannot be created"),
        };
    }
}
