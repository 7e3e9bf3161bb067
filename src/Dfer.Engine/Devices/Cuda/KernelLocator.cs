using System.Security.Cryptography;
using System.Text;

namespace Dfer.Devices.Cuda;

/// <summary>The form of a compiled kernel module.</summary>
public enum KernelImageKind
{
    /// <summary>A cubin (ELF) for exactly one compute capability; loads without JIT.</summary>
    Cubin,

    /// <summary>PTX text; the driver JIT-compiles it for the GPU at load time.</summary>
    Ptx,
}

/// <summary>A compiled module ready for cuModuleLoadDataEx, and where it came from.</summary>
/// <param name="Module">The module name (NAME of NAME.cu).</param>
/// <param name="Image">Cubin bytes, or PTX text as UTF-8 without a terminating NUL.</param>
/// <param name="Kind">Cubin or PTX.</param>
/// <param name="Origin">Where it came from, in words, for <c>dfer devices</c> and reports.</param>
/// <param name="Path">The file it was read from or cached to; null when it lives only in memory.</param>
/// <param name="FromCache">True when read from the NVRTC disk cache (so a driver rejection evicts it).</param>
public sealed record KernelModuleImage(string Module, byte[] Image, KernelImageKind Kind, string Origin, string? Path,
    bool FromCache);

/// <summary>Where <see cref="KernelLocator"/> looks; <see cref="FromEnvironment"/> gives the real places, tests give
/// temp folders.</summary>
/// <param name="KernelsDir">$DFER_KERNELS_DIR: searched first when set.</param>
/// <param name="AssemblyDirectory">The folder of Dfer.Engine.dll: its <c>kernels/</c> subfolder is searched
/// second.</param>
/// <param name="CurrentDirectory">With <paramref name="AssemblyDirectory"/>, a start for the walk up to the repository
/// root (a folder holding CMakeLists.txt and Dfer.sln), whose <c>build/kernels</c> is searched third.</param>
/// <param name="CacheDirectory">Where NVRTC output is cached.</param>
public sealed record KernelSearchPaths(string? KernelsDir, string? AssemblyDirectory, string? CurrentDirectory,
    string CacheDirectory)
{
    /// <summary>
    /// The real places: $DFER_KERNELS_DIR; the Dfer.Engine assembly's folder; the current directory; and the
    /// cache folder $DFER_CACHE_DIR (used as is), else $XDG_CACHE_HOME/dfer/kernels, else ~/.cache/dfer/kernels.
    /// </summary>
    public static KernelSearchPaths FromEnvironment()
    {
        string cache = EngineEnvironment.KernelCacheDirectory
            ?? Path.Combine(EngineEnvironment.CacheHome, "dfer", "kernels");
        string? asmDir = Path.GetDirectoryName(typeof(KernelSearchPaths).Assembly.Location);
        return new KernelSearchPaths(EngineEnvironment.KernelsDirectory,
            string.IsNullOrEmpty(asmDir) ? AppContext.BaseDirectory : asmDir,
            Environment.CurrentDirectory, cache);
    }

    /// <summary>
    /// The prebuilt-kernel folders in search order, each with how it was found: $DFER_KERNELS_DIR, the
    /// assembly's kernels/, then build/kernels of the repository root found walking up from the assembly
    /// folder and then from the current directory (duplicates dropped). Folders need not exist.
    /// </summary>
    public IReadOnlyList<(string Dir, string Label)> CompiledDirectories()
    {
        var list = new List<(string, string)>();
        void Add(string? dir, string label)
        {
            if (dir is null) return;
            string full = Path.GetFullPath(dir);
            if (!list.Any(e => string.Equals(e.Item1, full, StringComparison.Ordinal))) list.Add((full, label));
        }
        Add(KernelsDir, "$DFER_KERNELS_DIR");
        if (AssemblyDirectory is not null) Add(Path.Combine(AssemblyDirectory, "kernels"), "next to Dfer.Engine");
        foreach (string? start in new[] { AssemblyDirectory, CurrentDirectory })
            if (RepositoryRoot(start) is string root) Add(Path.Combine(root, "build", "kernels"), "CMake build");
        return list;
    }

    private static string? RepositoryRoot(string? start)
    {
        for (var d = start is null ? null : new DirectoryInfo(Path.GetFullPath(start)); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "CMakeLists.txt"))
                && File.Exists(Path.Combine(d.FullName, "Dfer.sln")))
                return d.FullName;
        return null;
    }
}

/// <summary>Compiles kernel sources at run time; <see cref="NvrtcCompiler"/> in production, fakes in tests.</summary>
internal interface IKernelCompiler
{
    /// <summary>Null when usable; otherwise one line (e.g. "NVRTC is not installed (libnvrtc.so.* not
    /// found)").</summary>
    string? UnavailableReason { get; }

    /// <summary>Names the compiler, version and options: part of the cache key, so a new NVRTC or new options miss the
    /// cache.</summary>
    string Identity { get; }

    /// <summary>Short, file-name-safe tag of <see cref="Identity"/>, e.g. <c>nvrtc11.8</c>.</summary>
    string Tag { get; }

    NvrtcOutput Compile(string source, string fileName, IReadOnlyList<KernelHeader> headers, int sm);
}

internal sealed class NvrtcCompiler : IKernelCompiler
{
    public static readonly NvrtcCompiler Instance = new();
    public string? UnavailableReason => Nvrtc.UnavailableReason();
    // The per-sm option tweaks (Nvrtc.OptionsFor) follow from version and sm, both already in the cache key.
    public string Identity => $"NVRTC {Nvrtc.Version.Major}.{Nvrtc.Version.Minor} {string.Join(' ', Nvrtc.Options)}";
    public string Tag => $"nvrtc{Nvrtc.Version.Major}.{Nvrtc.Version.Minor}";
    public NvrtcOutput Compile(string source, string fileName, IReadOnlyList<KernelHeader> headers, int sm) =>
        Nvrtc.Compile(source, fileName, headers, sm);
}

/// <summary>
/// Finds the compiled form of a kernel module for a GPU, in this order:
/// <list type="number">
/// <item>prebuilt kernels in each of <see cref="KernelSearchPaths.CompiledDirectories"/>: <c>NAME.sm_XY.cubin</c> if
/// present, else <c>NAME.ptx</c>; a folder is used only when its <c>NAME.sources.sha256</c> equals
/// <see cref="KernelSources.Sha256"/>
/// (otherwise it is skipped as stale, and the reason kept for <see cref="Skipped"/>) and the file looks intact;</item>
/// <item>the embedded source compiled with NVRTC at first use, cached on disk under
/// <see cref="KernelSearchPaths.CacheDirectory"/> as <c>NAME.sm_XY.TAG.KEY.(cubin|ptx)</c> where KEY is the first 16
/// hex digits of SHA-256(source hash, compiler identity and options, sm) — written to a temp file and renamed, and
/// checked (non-empty, ELF header and section table in bounds for a cubin, <c>.version</c>/<c>.target</c> and balanced
/// braces for PTX) before it is trusted; a bad cache file is recompiled.</item>
/// </list>
/// With neither, <see cref="Locate"/> throws a one-line <see cref="DferException"/>. Thread-safe.
/// </summary>
public sealed class KernelLocator
{
    private readonly object _gate = new();
    private readonly KernelSearchPaths _paths;
    private readonly KernelSources _sources;
    private readonly IKernelCompiler _compiler;
    private readonly Dictionary<(string, int), KernelModuleImage> _found = new();
    private readonly List<string> _skipped = [];

    internal KernelLocator(KernelSearchPaths paths, KernelSources sources, IKernelCompiler compiler)
    {
        _paths = paths;
        _sources = sources;
        _compiler = compiler;
    }

    private static readonly Lazy<KernelLocator> DefaultLocator =
        new(() => new KernelLocator(KernelSearchPaths.FromEnvironment(), KernelSources.Embedded,
        NvrtcCompiler.Instance));

    /// <summary>The locator over the real environment and the embedded sources (one per process, so the in-memory
    /// results are shared).</summary>
    public static KernelLocator Default => DefaultLocator.Value;

    /// <summary>The places searched.</summary>
    public KernelSearchPaths Paths => _paths;

    /// <summary>The sources matched against.</summary>
    public KernelSources Sources => _sources;

    /// <summary>How many times a compiler ran (cache misses); tests use it to see cache hits.</summary>
    internal int Compilations { get; private set; }

    /// <summary>Why prebuilt folders or cache files were passed over so far (stale, corrupt, unwritable cache), one
    /// line each.</summary>
    public IReadOnlyList<string> Skipped { get { lock (_gate) return _skipped.ToArray(); } }

    /// <summary>
    /// The compiled module <paramref name="module"/> for compute capability <paramref name="sm"/> (e.g. 90), found or
    /// compiled as described on <see cref="KernelLocator"/>, remembered per (module, sm) for the life of this locator.
    /// </summary>
    public KernelModuleImage Locate(string module, int sm)
    {
        lock (_gate)
        {
            if (_found.TryGetValue((module, sm), out var hit)) return hit;
            string hash = _sources.Sha256(module);   // also rejects an unknown module
            var image = FromCompiledDirectories(module, sm, hash) ?? (_compiler.UnavailableReason is null
                ? FromCompiler(module, sm, hash, forceCompile: false)
                : throw new DferException("backend cuda: " + NotFoundMessage(module)));
            _found[(module, sm)] = image;
            return image;
        }
    }

    /// <summary>Drops a cached image the driver rejected and compiles it afresh (once): a cache file can be intact yet
    /// wrong.</summary>
    internal KernelModuleImage Recompile(KernelModuleImage rejected, int sm)
    {
        lock (_gate)
        {
            _skipped.Add($"{rejected.Path}: rejected by the driver, recompiled");
            TryDelete(rejected.Path);
            var image = FromCompiler(rejected.Module, sm, _sources.Sha256(rejected.Module), forceCompile: true);
            _found[(rejected.Module, sm)] = image;
            return image;
        }
    }

    /// <summary>
    /// Null when every embedded module can be had without knowing the GPU: NVRTC loads, or some prebuilt folder holds a
    /// fresh NAME.ptx or NAME.sm_*.cubin for it; otherwise the one-line reason (see <see cref="Locate"/>).
    /// </summary>
    public string? UnavailableReason()
    {
        if (_compiler.UnavailableReason is null) return null;
        foreach (string module in _sources.Modules)
        {
            string hash = _sources.Sha256(module);
            bool any = _paths.CompiledDirectories().Any(d =>
                Directory.Exists(d.Dir) && Fresh(d.Dir, module, hash, out _)
                && (File.Exists(Path.Combine(d.Dir, module + ".ptx"))
                || Directory.EnumerateFiles(d.Dir, module + ".sm_*.cubin").Any()));
            if (!any) return NotFoundMessage(module);
        }
        return null;
    }

    /// <summary>
    /// Where <paramref name="module"/> for <paramref name="sm"/> would come from, without compiling anything: the
    /// origin of what was already located, else the prebuilt file that would be used, else "NVRTC x.y (cache DIR)",
    /// else the reason it cannot be had.
    /// </summary>
    public string Plan(string module, int sm)
    {
        lock (_gate)
        {
            if (_found.TryGetValue((module, sm), out var hit)) return hit.Origin;
            string hash = _sources.Sha256(module);
            foreach (var (dir, label) in _paths.CompiledDirectories())
                if (Directory.Exists(dir) && Fresh(dir, module, hash, out _) && Pick(dir, module, sm) is { } f)
                    return $"{Path.GetFileName(f.Path)} in {dir} ({label})";
            return _compiler.UnavailableReason is null
                ? $"{_compiler.Tag} at first use (cache {_paths.CacheDirectory})"
                : NotFoundMessage(module);
        }
    }

    private KernelModuleImage? FromCompiledDirectories(string module, int sm, string hash)
    {
        foreach (var (dir, label) in _paths.CompiledDirectories())
        {
            if (!Directory.Exists(dir))
            {
                if (label == "$DFER_KERNELS_DIR") Skip($"$DFER_KERNELS_DIR={dir} does not exist");
                continue;
            }
            if (Pick(dir, module, sm) is not { } file) continue;
            if (!Fresh(dir, module, hash, out string? why))
            {
                Skip($"{dir} ({label}): {why}");
                continue;
            }
            byte[]? bytes = TryRead(file.Path);
            if (bytes is null || !LooksIntact(bytes, file.Kind))
            {
                Skip($"{file.Path}: unreadable or not a valid {(file.Kind == KernelImageKind.Cubin ? "cubin" : "PTX")} "
                    + "file");
                continue;
            }
            string how = file.Kind == KernelImageKind.Cubin ? "cubin" : "PTX, JIT-compiled by the driver";
            return new KernelModuleImage(module, bytes, file.Kind, $"{file.Path} ({label}, {how})", file.Path,
                FromCache: false);
        }
        return null;
    }

    private static (string Path, KernelImageKind Kind)? Pick(string dir, string module, int sm)
    {
        string cubin = Path.Combine(dir, $"{module}.sm_{sm}.cubin"), ptx = Path.Combine(dir, module + ".ptx");
        return File.Exists(cubin) ? (cubin, KernelImageKind.Cubin) : File.Exists(ptx) ? (ptx, KernelImageKind.Ptx)
            : null;
    }

    private static bool Fresh(string dir, string module, string hash, out string? why)
    {
        string stamp = Path.Combine(dir, module + ".sources.sha256");
        string? recorded = null;
        try { recorded = File.Exists(stamp) ? File.ReadAllText(stamp).Trim() : null; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        why = recorded is null
            ? $"no readable {module}.sources.sha256, so it cannot be matched to the sources (rebuild with cmake "
                + "--build build)"
            : !string.Equals(recorded, hash, StringComparison.OrdinalIgnoreCase)
                ? $"stale: {module}.sources.sha256 is {Short(recorded)}, the embedded sources hash to {Short(hash)} "
                    + "(rebuild with cmake --build build)"
                : null;
        return why is null;
    }

    private static string Short(string hash) => hash.Length > 12 ? hash[..12] + "…" : hash;

    private KernelModuleImage FromCompiler(string module, int sm, string hash, bool forceCompile)
    {
        string key = Convert.ToHexStringLower(
            SHA256.HashData(Encoding.UTF8.GetBytes($"{hash}\n{_compiler.Identity}\nsm_{sm}")))[..16];
        string stem = Path.Combine(_paths.CacheDirectory, $"{module}.sm_{sm}.{_compiler.Tag}.{key}");
        if (!forceCompile)
            foreach (var kind in new[] { KernelImageKind.Cubin, KernelImageKind.Ptx })
            {
                string file = stem + Extension(kind);
                if (!File.Exists(file)) continue;
                if (TryRead(file) is { } cached && LooksIntact(cached, kind))
                    return new KernelModuleImage(module, cached, kind, $"{_compiler.Tag} cache {file}", file,
                        FromCache: true);
                Skip($"{file}: corrupt cache file, recompiled");
                TryDelete(file);
            }

        Compilations++;
        NvrtcOutput output = _compiler.Compile(_sources.Source(module), module + ".cu", _sources.Headers, sm);
        var outKind = output.IsCubin ? KernelImageKind.Cubin : KernelImageKind.Ptx;
        string target = stem + Extension(outKind);
        string? written = TryWriteAtomically(target, output.Image) ? target : null;
        string origin = $"{_compiler.Tag} ({output.Architecture}), compiled at first use"
            + (written is null ? ", not cached" : $", cached at {target}");
        return new KernelModuleImage(module, output.Image, outKind, origin, written, FromCache: written is not null);
    }

    private static string Extension(KernelImageKind kind) => kind == KernelImageKind.Cubin ? ".cubin" : ".ptx";

    private bool TryWriteAtomically(string path, byte[] bytes)
    {
        // Another process may be compiling the same module: each writes its own temp file and the rename
        // (atomic on one file system) makes whichever lands last the complete, valid cache entry.
        string tmp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(tmp, bytes);
            File.Move(tmp, path, overwrite: true);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Skip($"cannot write the kernel cache {path}: {e.Message}");
            TryDelete(tmp);
            return false;
        }
    }

    private static byte[]? TryRead(string path)
    {
        try { return File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    private static void TryDelete(string? path)
    {
        try { if (path is not null) File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    private void Skip(string reason)
    {
        if (!_skipped.Contains(reason)) _skipped.Add(reason);
    }

    /// <summary>
    /// Checks that cannot prove an image good but catch the usual bad file (empty, truncated, wrong type):
    /// a cubin is a 64-bit ELF whose section header table lies inside the file (nvcc and NVRTC put it last,
    /// so truncation shows); PTX has <c>.version</c> and <c>.target</c> and balanced braces outside comments.
    /// </summary>
    internal static bool LooksIntact(byte[] image, KernelImageKind kind)
    {
        if (kind == KernelImageKind.Cubin)
        {
            if (image.Length < 64 || image[0] != 0x7F || image[1] != (byte)'E' || image[2] != (byte)'L'
                || image[3] != (byte)'F' || image[4] != 2)
                return false;
            ulong shoff = BitConverter.ToUInt64(image, 0x28);
            ulong shentsize = BitConverter.ToUInt16(image, 0x3A), shnum = BitConverter.ToUInt16(image, 0x3C);
            return shoff + shentsize * shnum <= (ulong)image.Length;
        }
        if (image.Length == 0 || Array.IndexOf(image, (byte)0) >= 0) return false;
        string text = KernelSources.StripComments(Encoding.UTF8.GetString(image));
        return text.Contains(".version", StringComparison.Ordinal) && text.Contains(".target", StringComparison.Ordinal)
            && text.Count(c => c == '{') == text.Count(c => c == '}');
    }

    private string NotFoundMessage(string module)
    {
        string looked = string.Join(", ", _paths.CompiledDirectories().Select(d => d.Dir));
        string skipped = _skipped.Count > 0 ? $"; skipped: {string.Join("; ", _skipped)}" : "";
        return $"no compiled kernels for {module} (looked in {looked}{skipped}) and {_compiler.UnavailableReason}; "
            + "build them with `cmake -S . -B build && cmake --build build` or install the CUDA toolkit";
    }
}
