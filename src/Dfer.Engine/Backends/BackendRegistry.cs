using Dfer.Backends.Cpu;
using Dfer.Backends.Reference;
using Dfer.Devices.Cpu;

namespace Dfer.Backends;

/// <summary>Backends by CLI name.</summary>
public static class BackendRegistry
{
    /// <summary>Every backend name, with whether it can run here and what it runs on.</summary>
    public static IReadOnlyList<(string Name, bool Available, string Description)> List() => new[]
    {
        ("cpu", true, $"managed SIMD kernels, {Environment.ProcessorCount} threads, {CpuContext.Isa}"),
        ("reference", true, "float64 plain loops: the numerical oracle, very slow"),
    };

    public static IBackend Create(string name, int threads = 0) => name.ToLowerInvariant() switch
    {
        "cpu" => new CpuBackend(threads),
        "reference" => new ReferenceBackend(),
        _ => throw new DferException($"unknown backend '{name}'; available here: {string.Join(", ", List().Where(b => b.Available).Select(b => b.Name))}"),
    };
}
