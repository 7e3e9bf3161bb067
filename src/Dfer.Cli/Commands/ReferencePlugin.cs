using System.Reflection;
using Dfer.Runtime;

namespace Dfer.Cli.Commands;

/// <summary>
/// Loads the optional PyTorch oracle (the Dfer.Reference assembly, which carries TorchSharp and
/// libtorch) for <c>dfer validate --reference torch</c>. The CLI does not reference it, so a
/// normal install stays free of libtorch.
/// </summary>
internal static class ReferencePlugin
{
    public const string EnvironmentVariable = "DFER_REFERENCE";
    private const string AssemblyFile = "Dfer.Reference.dll";
    private const string OracleType = "Dfer.Reference.TorchOracle";

    /// <summary>The assembly named by DFER_REFERENCE, else the one next to dfer; a DferException saying how to get it
    /// when absent.</summary>
    public static IReferenceOracle LoadTorch()
    {
        string path = Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } set
            ? set
            : Path.Combine(AppContext.BaseDirectory, AssemblyFile);
        if (!File.Exists(path))
            throw new DferException(
                $"--reference torch needs the optional {AssemblyFile}, not found at {path}: build it once with " +
                $"'dotnet build src/Dfer.Reference -c Release' and "
                + $"set {EnvironmentVariable}=src/Dfer.Reference/bin/Release/net10.0/{AssemblyFile}");
        try
        {
            // LoadFrom resolves TorchSharp from the same folder; the engine types are the ones already loaded.
            Type type = Assembly.LoadFrom(path).GetType(OracleType, throwOnError: true)!;
            return (IReferenceOracle)Activator.CreateInstance(type)!;
        }
        catch (TargetInvocationException ex) when (ex.InnerException is not null)
        {
            throw new DferException($"{path}: the PyTorch reference cannot start: {ex.InnerException.Message}");
        }
        catch (Exception ex) when (
            ex is FileLoadException or BadImageFormatException or TypeLoadException or InvalidCastException)
        {
            throw new DferException(
                $"{path}: not a usable Dfer.Reference assembly ({ex.GetType().Name}: {ex.Message})");
        }
    }
}
