using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Dfer.Devices.Cuda;

/// <summary>
/// The CUDA kernel sources (native/kernels/*.cu and *.cuh) as embedded in Dfer.Engine under
/// <c>kernels/NAME.cu</c> / <c>kernels/NAME.cuh</c>: what NVRTC compiles when no prebuilt kernels are
/// around, what the launch tables are read from, and what decides whether prebuilt kernels are stale.
/// </summary>
public sealed partial class KernelSources
{
    private readonly IReadOnlyDictionary<string, byte[]> _files;
    private readonly Dictionary<string, IReadOnlyDictionary<string, KernelLaunch>> _tables = new();

    /// <summary>Sources from file name (<c>conv3d.cu</c>, <c>common.cuh</c>) to exact bytes; tests build their
    /// own.</summary>
    internal KernelSources(IReadOnlyDictionary<string, byte[]> files)
    {
        _files = files;
        Modules = files.Keys.Where(f => f.EndsWith(".cu", StringComparison.Ordinal))
            .Select(f => f[..^3]).Order(StringComparer.Ordinal).ToArray();
        Headers = files.Keys.Where(f => f.EndsWith(".cuh", StringComparison.Ordinal)).Order(StringComparer.Ordinal)
            .Select(f => new KernelHeader(f, Text(files[f]))).ToArray();
    }

    private static readonly Lazy<KernelSources> EmbeddedSources = new(() =>
    {
        var asm = typeof(KernelSources).Assembly;
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (string res in asm.GetManifestResourceNames())
        {
            if (!res.StartsWith("kernels/", StringComparison.Ordinal)) continue;
            using Stream s = asm.GetManifestResourceStream(res)!;
            using var m = new MemoryStream();
            s.CopyTo(m);
            files[res["kernels/".Length..]] = m.ToArray();
        }
        return new KernelSources(files);
    });

    /// <summary>The sources embedded in this build of Dfer.Engine.</summary>
    public static KernelSources Embedded => EmbeddedSources.Value;

    /// <summary>Module names: NAME for every NAME.cu, in ordinal order.</summary>
    public IReadOnlyList<string> Modules { get; }

    /// <summary>Every *.cuh, in ordinal name order: the headers handed to NVRTC and hashed with each module.</summary>
    public IReadOnlyList<KernelHeader> Headers { get; }

    /// <summary>The text of NAME.cu (UTF-8); <see cref="DferException"/> for an unknown module.</summary>
    public string Source(string module) => Text(Bytes(module + ".cu"));

    /// <summary>
    /// The sources' fingerprint: lowercase hex SHA-256 of the listing <c>sha256sum NAME.cu H1.cuh ...</c> prints, i.e.
    /// of the UTF-8 text <c>"{sha256(file)}  {file name}\n"</c> for NAME.cu followed by every *.cuh in ordinal name
    /// order (today common.cuh); file hashes are over exact bytes, lowercase hex. cmake/sources_sha256.cmake writes
    /// the same value to build/kernels/NAME.sources.sha256, which is how prebuilt kernels are matched to these
    /// sources. By hand:
    /// <c>(cd native/kernels &amp;&amp; sha256sum conv3d.cu common.cuh | sha256sum)</c>.
    /// </summary>
    public string Sha256(string module)
    {
        var listing = new StringBuilder();
        foreach (string file in Headers.Select(h => h.Name).Prepend(module + ".cu"))
            listing.Append(Convert.ToHexStringLower(SHA256.HashData(Bytes(file)))).Append("  ").Append(file)
                .Append('\n');
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(listing.ToString())));
    }

    /// <summary>The launch table of NAME.cu (parsed once), see <see cref="KernelLaunchTable.Parse"/>.</summary>
    public IReadOnlyDictionary<string, KernelLaunch> LaunchTable(string module)
    {
        lock (_tables)
        {
            if (!_tables.TryGetValue(module, out var table))
                _tables[module] = table = KernelLaunchTable.Parse(Source(module), module + ".cu");
            return table;
        }
    }

    private byte[] Bytes(string fileName) => _files.TryGetValue(fileName, out byte[]? b)
        ? b
        : throw new DferException(
        $"kernels: no embedded source {fileName} "
        + $"(have {string.Join(", ", _files.Keys.Order(StringComparer.Ordinal))})");

    private static string Text(byte[] bytes) => new UTF8Encoding(false).GetString(bytes);

    /// <summary>
    /// The names of every <c>extern "C" __global__</c> kernel in <paramref name="source"/>, in order of
    /// appearance; comments are ignored (a commented-out kernel is not a kernel). Macro calls such as
    /// <c>__launch_bounds__(256)</c> or <c>DFER_LAUNCH_BOUNDS(kThreads, 2)</c> may stand before or after <c>void</c>.
    /// </summary>
    public static IReadOnlyList<string> KernelNames(string source) =>
        GlobalKernel().Matches(StripComments(source)).Select(m => m.Groups["name"].Value).ToArray();

    /// <summary>Blanks out // and /* */ comments (strings in kernels do not contain them).</summary>
    internal static string StripComments(string source) =>
        Comments().Replace(source, m => m.Value.StartsWith("/*", StringComparison.Ordinal)
            ? new string(m.Value.Select(c => c == '\n' ? '\n' : ' ').ToArray())
            : "");

    [GeneratedRegex(@"//[^\n]*|/\*.*?\*/", RegexOptions.Singleline)]
    private static partial Regex Comments();

    // Attribute-like macro calls may sit before or after `void`
    // (__launch_bounds__(256), DFER_LAUNCH_BOUNDS(kThreads, 2)).
    [GeneratedRegex(@"extern\s+""C""\s+__global__\s+(?:\w+\s*\([^()]*\)\s*)*void\s+"
        + @"(?:\w+\s*\([^()]*\)\s*)*(?<name>[A-Za-z_]\w*)\s*\(")]
    private static partial Regex GlobalKernel();
}

/// <summary>One kernel's launch contract, from a <c>// launch NAME: block B, tile_m M, tile_n N, smem S</c>
/// line.</summary>
/// <param name="Kernel">The kernel's extern "C" name.</param>
/// <param name="Block">Threads per block (blockDim.x; y = z = 1).</param>
/// <param name="TileM">Rows of the GEMM M dimension per block: grid.x = ceil(m / TileM).</param>
/// <param name="TileN">Columns (output channels) per block: grid.y = ceil(co / TileN).</param>
/// <param name="Smem">Dynamic shared memory bytes per block (0 when the kernel uses only static shared memory).</param>
/// <param name="Line">The 1-based line of the source it came from.</param>
public sealed record KernelLaunch(string Kernel, int Block, int TileM, int TileN, int Smem, int Line);

/// <summary>Reads the launch table comment lines of a kernel source (docs/kernel-interface.md).</summary>
public static partial class KernelLaunchTable
{
    /// <summary>
    /// Every launch line of <paramref name="source"/>, by kernel name. A launch line is a line whose text,
    /// after leading blanks, starts with <c>// launch NAME:</c>; it must then read exactly
    /// <c>// launch NAME: block B, tile_m M, tile_n N, smem S</c> (non-negative decimal integers, block &gt; 0,
    /// any spacing). A malformed line or a kernel named twice is a <see cref="DferException"/> naming
    /// <paramref name="fileName"/>, the line number and its text.
    /// </summary>
    public static IReadOnlyDictionary<string, KernelLaunch> Parse(string source, string fileName = "source")
    {
        var table = new Dictionary<string, KernelLaunch>(StringComparer.Ordinal);
        string[] lines = source.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].TrimEnd('\r');
            Match head = Head().Match(line);
            if (!head.Success) continue;
            Match m = Full().Match(line);
            string where = $"{fileName}:{i + 1}";
            if (!m.Success
                || !TryInt(m, "block", out int block) || block <= 0
                || !TryInt(m, "m", out int tileM) || !TryInt(m, "n", out int tileN) || !TryInt(m, "smem", out int smem))
                throw new DferException(
                    $"{where}: malformed launch line '{line.Trim()}' (expected '// launch NAME: block B, tile_m M, "
                    + "tile_n N, smem S')");
            string name = head.Groups["name"].Value;
            if (table.TryGetValue(name, out KernelLaunch? first))
                throw new DferException($"{where}: second launch line for {name} (first on line {first.Line})");
            table[name] = new KernelLaunch(name, block, tileM, tileN, smem, i + 1);
        }
        return table;
    }

    private static bool TryInt(Match m, string group, out int value) =>
        int.TryParse(m.Groups[group].Value, NumberStyles.None, CultureInfo.InvariantCulture, out value);

    [GeneratedRegex(@"^\s*//\s*launch\s+(?<name>[A-Za-z_]\w*)\s*:")]
    private static partial Regex Head();

    [GeneratedRegex(@"^\s*//\s*launch\s+(?<name>[A-Za-z_]\w*)\s*:\s*block\s+(?<block>\d+)\s*,"
        + @"\s*tile_m\s+(?<m>\d+)\s*,\s*tile_n\s+(?<n>\d+)\s*,\s*smem\s+(?<smem>\d+)\s*$")]
    private static partial Regex Full();
}
