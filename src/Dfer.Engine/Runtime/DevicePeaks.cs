using Dfer.Backends;
using Dfer.Backends.Cpu;
using Dfer.Devices.Cpu;

namespace Dfer.Runtime;

/// <summary>
/// The roof of a device's roofline: fp32 compute peak and memory bandwidth, and where they come
/// from ("measured: ...", "table: ..."). Null values mean unknown (percentages are then omitted).
/// </summary>
public sealed record DevicePeaks(double? Gflops, double? GBytesPerS, string Source)
{
    /// <summary>FLOPs per byte where the roofline's slope meets its flat top; null when a peak is unknown.</summary>
    public double? Ridge => Gflops is double f && GBytesPerS is double b && b > 0 ? f / b : null;

    /// <summary>Peaks for the device a backend runs on: measured for CPUs (a short calibration, on the
    /// instruction-set path the backend's kernels take: <see cref="CpuPath"/>), from a table for GPUs.</summary>
    public static DevicePeaks For(IBackend backend, int threads)
    {
        if (backend.Name is "ilgpu-cuda" or "cuda") return FromTable(backend.Device);
        int t = Math.Max(1, threads);
        CpuIsa isa = CpuPath(backend);
        double flops = CpuPeak.MeasureGflops(t, isa), bandwidth = CpuPeak.MeasureCopyGBps(t);
        string note = backend.Name == "reference" ? "; the reference backend computes in float64 on one thread" : "";
        return new DevicePeaks(flops > 0 ? flops : null, bandwidth,
            $"measured on this CPU with {t} thread(s): register-only chains on the {CpuVariants.Name(isa)} path "
            + $"({CpuPeak.Describe(isa)}) and a 256 MiB copy{note}");
    }

    /// <summary>The instruction-set path whose peak a CPU backend is measured against: a <see cref="CpuBackend"/>'s
    /// own (its pins or DFER_CPU_ISA), otherwise the one an unpinned CPU backend takes.</summary>
    public static CpuIsa CpuPath(IBackend backend) =>
        backend is CpuBackend cpu ? cpu.Variants.Isa : CpuVariants.Default.Isa;

    /// <summary>
    /// Vendor figures for fp32 without tensor cores (TF32 off) and DRAM bandwidth, matched by the
    /// device name; the first match wins, so longer names come first.
    /// </summary>
    private static readonly (string Name, double Gflops, double GBps)[] Known =
    [
        ("H100 PCIe", 51_200, 2_000),
        ("H100 NVL", 60_000, 3_900),
        ("H100", 66_900, 3_350),
        ("H200", 66_900, 4_800),
        ("A100", 19_500, 2_039),
        ("L40S", 91_600, 864),
        ("L4", 30_300, 300),
        ("RTX 4090", 82_600, 1_008),
        ("RTX 3090", 35_600, 936),
    ];

    public static DevicePeaks FromTable(string device)
    {
        foreach (var (name, gflops, gbps) in Known)
            if (device.Contains(name, StringComparison.OrdinalIgnoreCase))
                return new DevicePeaks(gflops, gbps,
                    $"table: {name} vendor figures (fp32 without tensor cores, DRAM bandwidth)");
        return new DevicePeaks(null, null, $"unknown device '{device}': no peak figures, so no percentages");
    }
}
