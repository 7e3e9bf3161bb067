using System.Runtime.ExceptionServices;
using System.Runtime.InteropServices;
using System.Text;

namespace Dfer.Devices.Cuda;

/// <summary>A header handed to NVRTC by name (what <c>#include "name"</c> resolves to) and contents.</summary>
public sealed record KernelHeader(string Name, string Contents);

/// <summary>What NVRTC produced for one source: a cubin for one GPU, or PTX the driver JIT-compiles.</summary>
/// <param name="Image">The cubin (ELF) bytes, or the PTX text as UTF-8 without a terminating NUL.</param>
/// <param name="IsCubin">True for a cubin, false for PTX.</param>
/// <param name="Architecture">The <c>--gpu-architecture</c> it was built for: <c>sm_90</c> (cubin) or <c>compute_80</c>
/// (PTX).</param>
/// <param name="Log">NVRTC's program log (warnings); empty when there were none.</param>
public sealed record NvrtcOutput(byte[] Image, bool IsCubin, string Architecture, string Log);

/// <summary>
/// NVRTC, the CUDA runtime compiler, found at run time (it ships with the toolkit, not the driver).
/// Compiles the embedded kernel sources when no prebuilt cubin/PTX is around. Calls are serialised:
/// they are rare (once per module and GPU, then cached on disk) and NVRTC's thread safety varies by version.
/// </summary>
public static unsafe partial class Nvrtc
{
    /// <summary>The options every compile uses besides the architecture. No <c>--use_fast_math</c>: the kernels are
    /// checked against fp32 references.</summary>
    public static readonly IReadOnlyList<string> Options = ["-std=c++17", "-default-device", "-lineinfo"];

    /// <summary>
    /// <see cref="Options"/> for architecture <paramref name="sm"/> with this NVRTC: without <c>-lineinfo</c> when
    /// NVRTC is older than 12 and <paramref name="sm"/> &gt;= 90, because CUDA 11.8's ptxas crashes (SIGSEGV, killing
    /// the process when it runs inside NVRTC) assembling conv3d.cu for sm_90 with line info, and works without it
    /// (reproduced with nvcc/ptxas 11.8). Line info only serves profilers' source view.
    /// </summary>
    public static IReadOnlyList<string> OptionsFor(int sm) =>
        Found.Value.Reason is null && Found.Value.Version.Major < 12 && sm >= 90
        ? Options.Where(o => o != "-lineinfo").ToArray() : Options;

    private static readonly object Gate = new();
    private static readonly Lazy<Probe> Found = new(ProbeLibrary);

    private sealed record Probe(IntPtr Handle, string? Path, (int Major, int Minor) Version, string? Reason,
        int[] Archs,
        IntPtr GetCubinSize, IntPtr GetCubin);

    /// <summary>Null when NVRTC loads here; otherwise one line saying why not.</summary>
    public static string? UnavailableReason() => Found.Value.Reason;

    /// <summary>The file NVRTC was loaded from (as probed: a bare name means the default search path); null when
    /// unavailable.</summary>
    public static string? LibraryPath => Found.Value.Path;

    /// <summary>NVRTC's version (nvrtcVersion); throws <see cref="DferException"/> when unavailable.</summary>
    public static (int Major, int Minor) Version => Require().Version;

    /// <summary>The real architectures this NVRTC can target (nvrtcGetSupportedArchs, e.g. 80 for sm_80); empty when
    /// the library predates that call.</summary>
    public static IReadOnlyList<int> SupportedArchitectures => Require().Archs;

    /// <summary>True when <see cref="Compile"/> would return a cubin for <paramref name="sm"/> (NVRTC has nvrtcGetCUBIN
    /// and lists the arch).</summary>
    public static bool CanEmitCubin(int sm)
    {
        Probe p = Require();
        return p.GetCubin != IntPtr.Zero && p.GetCubinSize != IntPtr.Zero
            && (p.Archs.Length == 0 || p.Archs.Contains(sm));
    }

    /// <summary>The library file names probed, newest first.</summary>
    internal static IReadOnlyList<string> LibraryNames => OperatingSystem.IsWindows()
        ? ["nvrtc64_130_0.dll", "nvrtc64_120_0.dll", "nvrtc64_112_0.dll"]
        : ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"];

    /// <summary>Folders probed after the default search path, in order: $CUDA_PATH/lib64 (bin on Windows) and the usual
    /// toolkit folders.</summary>
    internal static IReadOnlyList<string> LibraryFolders()
    {
        var dirs = new List<string>();
        if (EngineEnvironment.CudaPath is string cuda)
            dirs.Add(Path.Combine(cuda, OperatingSystem.IsWindows() ? "bin" : "lib64"));
        if (!OperatingSystem.IsWindows())
            dirs.AddRange(
                ["/usr/local/cuda/lib64", "/usr/local/cuda-13.0/targets/x86_64-linux/lib",
                "/usr/local/cuda/targets/x86_64-linux/lib"]);
        return dirs;
    }

    private static Probe ProbeLibrary()
    {
        // Newest name first, each tried on the default path before the toolkit folders, so a CUDA 13
        // install outside ld.so's path still beats an older NVRTC on it.
        foreach (string name in LibraryNames)
            foreach (string? candidate in new string?[] { name }.Concat(
                LibraryFolders().Select(d => Path.Combine(d, name))))
            {
                if (candidate is null || !NativeLibrary.TryLoad(candidate, out IntPtr handle)) continue;
                // Versioned through the export, not the P/Invoke: the runtime binds a P/Invoke once, so it
                // must not see a candidate that is then rejected.
                if (!NativeLibrary.TryGetExport(handle, "nvrtcVersion", out IntPtr versionP)) continue;
                int major, minor;
                if (((delegate* unmanaged<int*, int*, int>)versionP)(&major, &minor) != 0) continue;
                NativeLibraries.NvrtcLibrary = handle;
                NativeLibraries.EnsureRegistered();
                int[] archs = [];
                if (NativeLibrary.TryGetExport(handle, "nvrtcGetNumSupportedArchs", out IntPtr numP)
                    && NativeLibrary.TryGetExport(handle, "nvrtcGetSupportedArchs", out IntPtr archsP))
                {
                    int n;
                    if (((delegate* unmanaged<int*, int>)numP)(&n) == 0 && n > 0)
                    {
                        archs = new int[n];
                        fixed (int* a = archs)
                            if (((delegate* unmanaged<int*, int>)archsP)(a) != 0) archs = [];
                    }
                }
                NativeLibrary.TryGetExport(handle, "nvrtcGetCUBINSize", out IntPtr cubinSize);
                NativeLibrary.TryGetExport(handle, "nvrtcGetCUBIN", out IntPtr cubin);
                return new Probe(handle, candidate, (major, minor), null, archs, cubinSize, cubin);
            }
        string pattern = OperatingSystem.IsWindows() ? "nvrtc64_*.dll" : "libnvrtc.so.*";
        return new Probe(IntPtr.Zero, null, default, $"NVRTC is not installed ({pattern} not found)", [], IntPtr.Zero,
            IntPtr.Zero);
    }

    private static Probe Require()
    {
        Probe p = Found.Value;
        return p.Reason is null ? p : throw new DferException($"nvrtc: {p.Reason}");
    }

    /// <summary>
    /// Compiles <paramref name="source"/> (named <paramref name="fileName"/> in diagnostics) for compute
    /// capability <paramref name="sm"/> (e.g. 90): a cubin via <c>--gpu-architecture=sm_XY</c> when
    /// <see cref="CanEmitCubin"/> and <paramref name="preferCubin"/>, else PTX for <c>compute_XY</c>, where XY is
    /// <paramref name="sm"/> or, if NVRTC does not list it, the newest listed arch below it (PTX JIT-compiles
    /// forward). Options: <see cref="Options"/>. The program is always destroyed; a failed compile throws
    /// <see cref="DferException"/> carrying the NVRTC status and the program log.
    /// </summary>
    public static NvrtcOutput Compile(string source, string fileName, IReadOnlyList<KernelHeader> headers, int sm,
        bool preferCubin = true)
    {
        Require();
        // NVRTC runs the optimiser and ptxas in this process, where nvcc gives them processes with the 8 MiB
        // main-thread stack; a .NET worker thread has 1.5 MiB. A dedicated thread gives them what nvcc does and more
        // (reserved, committed only as touched), whatever thread the first kernel use happens on.
        NvrtcOutput? result = null;
        ExceptionDispatchInfo? failure = null;
        var thread = new Thread(() =>
        {
            try { result = CompileHere(source, fileName, headers, sm, preferCubin); }
            catch (Exception e) { failure = ExceptionDispatchInfo.Capture(e); }
        }, CompilerStackBytes)
        { Name = $"nvrtc {fileName}", IsBackground = true };
        thread.Start();
        thread.Join();
        failure?.Throw();
        return result!;
    }

    /// <summary>Stack reserved for the thread NVRTC runs on.</summary>
    internal const int CompilerStackBytes = 64 << 20;

    private static NvrtcOutput CompileHere(string source, string fileName, IReadOnlyList<KernelHeader> headers, int sm,
        bool preferCubin)
    {
        Probe p = Require();
        bool cubin = preferCubin && CanEmitCubin(sm);
        int arch = cubin || p.Archs.Length == 0 || p.Archs.Contains(sm)
            ? sm
            : p.Archs.Where(a => a <= sm).DefaultIfEmpty(sm).Max();
        string target = cubin ? $"sm_{arch}" : $"compute_{arch}";
        string[] options = [$"--gpu-architecture={target}", .. OptionsFor(arch)];

        var pinned = new List<IntPtr>();
        byte* Utf8(string s)
        {
            IntPtr m = Marshal.StringToCoTaskMemUTF8(s);
            pinned.Add(m);
            return (byte*)m;
        }

        lock (Gate)
        {
            IntPtr program = IntPtr.Zero;
            try
            {
                byte** headerTexts = stackalloc byte*[Math.Max(headers.Count, 1)];
                byte** headerNames = stackalloc byte*[Math.Max(headers.Count, 1)];
                for (int i = 0; i < headers.Count; i++)
                {
                    headerTexts[i] = Utf8(headers[i].Contents);
                    headerNames[i] = Utf8(headers[i].Name);
                }
                Check(nvrtcCreateProgram(&program, Utf8(source), Utf8(fileName), headers.Count, headerTexts,
                    headerNames),
                    "nvrtcCreateProgram", fileName, target, log: null);
                byte** opts = stackalloc byte*[options.Length];
                for (int i = 0; i < options.Length; i++) opts[i] = Utf8(options[i]);
                int status = nvrtcCompileProgram(program, options.Length, opts);
                string log = ProgramLog(program);
                Check(status, "nvrtcCompileProgram", fileName, target, log);

                nuint size;
                byte[] image;
                if (cubin)
                {
                    Check(((delegate* unmanaged<IntPtr, nuint*, int>)p.GetCubinSize)(program, &size),
                        "nvrtcGetCUBINSize", fileName, target, log);
                    image = new byte[(int)size];
                    fixed (byte* d = image)
                        Check(((delegate* unmanaged<IntPtr, byte*, int>)p.GetCubin)(program, d), "nvrtcGetCUBIN",
                            fileName, target, log);
                }
                else
                {
                    Check(nvrtcGetPTXSize(program, &size), "nvrtcGetPTXSize", fileName, target, log);
                    image = new byte[(int)size];
                    fixed (byte* d = image) Check(nvrtcGetPTX(program, d), "nvrtcGetPTX", fileName, target, log);
                    // The PTX size counts the terminating NUL; the image is text, the loader adds the NUL back.
                    int end = Array.IndexOf(image, (byte)0);
                    if (end >= 0) Array.Resize(ref image, end);
                }
                return new NvrtcOutput(image, cubin, target, log.Trim());
            }
            finally
            {
                if (program != IntPtr.Zero) nvrtcDestroyProgram(&program);
                foreach (IntPtr m in pinned) Marshal.FreeCoTaskMem(m);
            }
        }
    }

    private static string ProgramLog(IntPtr program)
    {
        nuint size;
        if (nvrtcGetProgramLogSize(program, &size) != 0 || size <= 1) return "";
        var buffer = new byte[(int)size];
        fixed (byte* b = buffer)
            if (nvrtcGetProgramLog(program, b) != 0) return "";
        return Encoding.UTF8.GetString(buffer, 0, Math.Max(0, buffer.Length - 1));
    }

    private static void Check(int status, string call, string fileName, string target, string? log)
    {
        if (status == 0) return;
        string name = Marshal.PtrToStringUTF8(nvrtcGetErrorString(status)) ?? $"NVRTC_ERROR_{status}";
        string message = $"nvrtc: {name} ({status}) in {call} for {fileName} ({target})";
        if (!string.IsNullOrWhiteSpace(log)) message += ":" + Environment.NewLine + log.TrimEnd();
        throw new DferException(message);
    }

    [LibraryImport(NativeLibraries.NvrtcName)] private static partial IntPtr nvrtcGetErrorString(int result);
    [LibraryImport(NativeLibraries.NvrtcName)]
    private static partial int nvrtcCreateProgram(IntPtr* program, byte* source, byte* name, int numHeaders,
        byte** headers, byte** includeNames);
    [LibraryImport(NativeLibraries.NvrtcName)] private static partial int nvrtcDestroyProgram(IntPtr* program);
    [LibraryImport(NativeLibraries.NvrtcName)]
    private static partial int nvrtcCompileProgram(IntPtr program, int numOptions, byte** options);
    [LibraryImport(NativeLibraries.NvrtcName)]
    private static partial int nvrtcGetProgramLogSize(IntPtr program, nuint* size);
    [LibraryImport(NativeLibraries.NvrtcName)] private static partial int nvrtcGetProgramLog(IntPtr program, byte* log);
    [LibraryImport(NativeLibraries.NvrtcName)] private static partial int nvrtcGetPTXSize(IntPtr program, nuint* size);
    [LibraryImport(NativeLibraries.NvrtcName)] private static partial int nvrtcGetPTX(IntPtr program, byte* ptx);
}
