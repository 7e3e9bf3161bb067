using Dfer.Backends;
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

    /// <summary>Peaks for the device a backend runs on: measured for CPUs (a short calibration), from a table for
    /// GPUs.</summary>
    public static DevicePeaks For(IBackend backend, int threads)
    {
        if (backend.Name is "ilgpu-cuda" or "cuda") return FromTable(backend.Device);
        int t = Math.Max(1, threads);
        double flops = CpuPeak.MeasureGflops(t), bandwidth = CpuPeak.MeasureCopyGBps(t);
        string note = backend.Name == "reference" ? "; the reference backend computes in float64 on one thread" : "";
        return new DevicePeaks(flops > 0 ? flops : null, bandwidth,
            $"measured on this CPU with {t} thread(s): register-only FMA chains and a 256 MiB copy{note}");
    }

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
