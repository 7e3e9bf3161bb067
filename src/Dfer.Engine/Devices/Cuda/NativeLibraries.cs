using System.Reflection;
using System.Runtime.InteropServices;

namespace Dfer.Devices.Cuda;

/// <summary>
/// Resolves the two logical library names the CUDA P/Invokes use (<see cref="Driver"/> and
/// <see cref="NvrtcName"/>) to the real files. .NET allows one resolver per assembly, so both live here
/// and registration is idempotent; any other name falls through to the default probing.
/// </summary>
internal static class NativeLibraries
{
    internal const string Driver = "dfer-libcuda";
    internal const string NvrtcName = "dfer-libnvrtc";

    private static readonly object Gate = new();
    private static bool _registered;
    private static readonly Lazy<IntPtr> DriverHandle = new(LoadDriver);

    /// <summary>The loaded driver library, or zero when none could be loaded.</summary>
    internal static IntPtr DriverLibrary => DriverHandle.Value;

    /// <summary>Set by <see cref="Nvrtc"/> once it has probed; zero when NVRTC was not found.</summary>
    internal static IntPtr NvrtcLibrary;

    internal static void EnsureRegistered()
    {
        lock (Gate)
        {
            if (_registered) return;
            NativeLibrary.SetDllImportResolver(typeof(NativeLibraries).Assembly, Resolve);
            _registered = true;
        }
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path) => name switch
    {
        Driver => DriverHandle.Value,
        NvrtcName => NvrtcLibrary,
        _ => IntPtr.Zero,
    };

    /// <summary>The driver's file names, most specific first (libcuda.so is only the dev symlink).</summary>
    internal static IReadOnlyList<string> DriverNames => OperatingSystem.IsWindows()
        ? ["nvcuda.dll"]
        : ["libcuda.so.1", "libcuda.so"];

    private static IntPtr LoadDriver()
    {
        foreach (string n in DriverNames)
            if (NativeLibrary.TryLoad(n, out IntPtr handle)) return handle;
        return IntPtr.Zero;
    }
}
