using Dfer.Devices.Cpu;
using Dfer.Devices.Cuda;
using Dfer.Devices.Ilgpu;

namespace Dfer.Devices;

/// <summary>
/// Every environment variable the engine reads, and the only code in it that reads one
/// (docs/environment.md lists these with the CLI's, the scripts' and the tests').
/// <para>Switches choose a kernel variant or a debugging mode. Each is parsed once, at first use, and a value
/// it does not know is refused with one line naming the variable and the values it takes; unset or empty
/// means the default. Backends do not read them one by one: <see cref="Cpu.CpuVariants"/>,
/// <see cref="IlgpuVariants"/> and <see cref="CudaVariants"/> gather them, and tests pass those records to
/// the backends' constructors instead of setting variables.</para>
/// <para>Folders are read at each use (unset or empty: null), so a process that sets one later sees it.</para>
/// </summary>
public static class EngineEnvironment
{
    // ---- switches ----

    /// <summary>DFER_CPU_ISA=portable|avx2|avx512: forces the instruction-set path of the CPU backend's defaults
    /// (<see cref="CpuVariants.Default"/>); null: the best this CPU has. A path this CPU lacks is refused.</summary>
    public static CpuIsa? CpuIsa => CpuIsaValue.Value;

    /// <summary>DFER_ILGPU_CONV3D=direct|tiled: pins the ILGPU conv3d variant; null lets the table choose.</summary>
    public static IlgpuConv3dVariant? IlgpuConv3d => IlgpuConv3dValue.Value;

    /// <summary>DFER_CONV3D_SPLITK=N (N ≥ 0): split-K ways for cuda's conv3d (0 or 1: none), still bounded by the
    /// rule; null lets the rule choose.</summary>
    public static int? Conv3dSplitK => Conv3dSplitKValue.Value;

    /// <summary>DFER_LSTM_MODE=auto|step|persistent: how cuda's LSTM runs its recurrence.</summary>
    public static CudaLstmMode LstmMode => LstmModeValue.Value;

    /// <summary>DFER_CUDA_SYNC=1: the cuda backend synchronises after every launch, so a fault names its kernel (0:
    /// off, the default).</summary>
    public static bool CudaSync => CudaSyncValue.Value;

    /// <summary>DFER_CUDA_GRAPHS=0: the cuda backend runs eagerly instead of replaying captured CUDA graphs (1: graphs,
    /// the default).</summary>
    public static bool CudaGraphs => CudaGraphsValue.Value;

    private static readonly Lazy<CpuIsa?> CpuIsaValue = Switch("DFER_CPU_ISA",
        v => ParseCpuIsa(v, CpuVariants.SimdSupported, CpuVariants.Avx512Supported));
    private static readonly Lazy<IlgpuConv3dVariant?> IlgpuConv3dValue = Switch("DFER_ILGPU_CONV3D", ParseIlgpuConv3d);
    private static readonly Lazy<int?> Conv3dSplitKValue = Switch("DFER_CONV3D_SPLITK", ParseSplitK);
    private static readonly Lazy<CudaLstmMode> LstmModeValue = Switch("DFER_LSTM_MODE", ParseLstmMode);
    private static readonly Lazy<bool> CudaSyncValue =
        Switch("DFER_CUDA_SYNC", v => ParseFlag("DFER_CUDA_SYNC", v, false));
    private static readonly Lazy<bool> CudaGraphsValue =
        Switch("DFER_CUDA_GRAPHS", v => ParseFlag("DFER_CUDA_GRAPHS", v, true));

    private static Lazy<T> Switch<T>(string name, Func<string?, T> parse) =>
        new(() => parse(Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v.Trim() : null));

    /// <summary>DFER_CPU_ISA's value: portable, avx2 or avx512 (any case), refused when this CPU lacks that path
    /// (<paramref name="avx2Fma"/>: it has AVX2 and FMA; <paramref name="avx512F"/>: and AVX-512F); null or empty:
    /// null.</summary>
    internal static CpuIsa? ParseCpuIsa(string? value, bool avx2Fma, bool avx512F)
    {
        CpuIsa? isa = value?.ToLowerInvariant() switch
        {
            null or "" => null,
            "portable" => Cpu.CpuIsa.Portable,
            "avx2" => Cpu.CpuIsa.Avx2,
            "avx512" => Cpu.CpuIsa.Avx512,
            _ => throw Refuse("DFER_CPU_ISA", value, "portable, avx2 or avx512"),
        };
        string? lacks = isa switch
        {
            Cpu.CpuIsa.Avx2 or Cpu.CpuIsa.Avx512 when !avx2Fma => "AVX2 and FMA",
            Cpu.CpuIsa.Avx512 when !avx512F => "AVX-512F",
            _ => null,
        };
        if (lacks is null) return isa;
        string possible = avx2Fma ? "portable or avx2" : "portable";
        throw new DferException(
            $"DFER_CPU_ISA={SafeText.Plain(value!, 40)}: this CPU lacks {lacks}; expected {possible} here "
            + "(docs/environment.md)");
    }

    /// <summary>DFER_ILGPU_CONV3D's value: direct or tiled (any case); null or empty: null.</summary>
    internal static IlgpuConv3dVariant? ParseIlgpuConv3d(string? value) => value?.ToLowerInvariant() switch
    {
        null or "" => null,
        "direct" => IlgpuConv3dVariant.Direct,
        "tiled" => IlgpuConv3dVariant.Tiled,
        _ => throw Refuse("DFER_ILGPU_CONV3D", value, "direct or tiled"),
    };

    /// <summary>DFER_CONV3D_SPLITK's value: a whole number ≥ 0; null or empty: null.</summary>
    internal static int? ParseSplitK(string? value) =>
        string.IsNullOrEmpty(value) ? null
        : int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture,
        out int n) ? n
        : throw Refuse("DFER_CONV3D_SPLITK", value, "a whole number of K ranges, 0 for no split");

    /// <summary>DFER_LSTM_MODE's value: auto, step or persistent (any case); null or empty: auto.</summary>
    internal static CudaLstmMode ParseLstmMode(string? value) => value?.ToLowerInvariant() switch
    {
        null or "" or "auto" => CudaLstmMode.Auto,
        "step" => CudaLstmMode.Step,
        "persistent" => CudaLstmMode.Persistent,
        _ => throw Refuse("DFER_LSTM_MODE", value, "step, persistent or auto"),
    };

    /// <summary>A 0/1 switch; null or empty: <paramref name="unset"/>.</summary>
    internal static bool ParseFlag(string name, string? value, bool unset) => value switch
    {
        null or "" => unset,
        "1" => true,
        "0" => false,
        _ => throw Refuse(name, value, "1 or 0"),
    };

    private static DferException Refuse(string name, string value, string expected) =>
        new($"{name}={SafeText.Plain(value, 40)}: expected {expected} (docs/environment.md)");

    // ---- folders ----

    /// <summary>DFER_FACE_API: where scripts/fetch-face-api.sh unpacked the face-api package (else under the cache
    /// folder).</summary>
    public static string? FaceApiDirectory => Folder("DFER_FACE_API");

    /// <summary>DFER_KERNELS_DIR: searched first for prebuilt CUDA kernels.</summary>
    public static string? KernelsDirectory => Folder("DFER_KERNELS_DIR");

    /// <summary>DFER_CACHE_DIR: where NVRTC-compiled kernels are cached, used as is (else
    /// $XDG_CACHE_HOME/dfer/kernels).</summary>
    public static string? KernelCacheDirectory => Folder("DFER_CACHE_DIR");

    /// <summary>XDG_CACHE_HOME: the user's cache folder (else ~/.cache); the face-api package and the kernel cache go
    /// under its dfer/.</summary>
    public static string? XdgCacheHome => Folder("XDG_CACHE_HOME");

    /// <summary>CUDA_PATH: a CUDA toolkit whose lib64 (bin on Windows) is searched for NVRTC after the default library
    /// path.</summary>
    public static string? CudaPath => Folder("CUDA_PATH");

    /// <summary>The user's cache folder: $XDG_CACHE_HOME, else ~/.cache.</summary>
    public static string CacheHome =>
        XdgCacheHome ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");

    private static string? Folder(string name)
        => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
}
