using System.Text;
using System.Text.Json;
using Dfer.IO;
using Dfer.Media;
using Dfer.Tensors;

namespace Dfer.Weights.TfJs;

/// <summary>
/// Reads TensorFlow.js weight files: a <c>*-weights_manifest.json</c> (a JSON array of groups,
/// each with <c>paths</c>, the shard files relative to the manifest, and <c>weights</c>, entries
/// <c>{name, shape, dtype, quantization?}</c>) and its binary shards. A group's shards are
/// concatenated in the listed order and its weights lie back to back in that buffer, in entry order.
/// <para>
/// Stored element types: <c>float32</c>, <c>int32</c> (widened to float) and, when an entry has
/// <c>quantization {dtype, scale, min}</c>, <c>uint8</c>/<c>uint16</c> codes dequantised as
/// <c>value = q·scale + min</c> (computed in float64, rounded once to float32) or <c>float16</c>
/// halves (no scale). Shapes keep TF's order (conv filters are [kH, kW, Cin, Cout]).
/// </para>
/// <para>
/// Every malformed input is a one-line <see cref="DferException"/> naming the manifest or shard:
/// the manifest is at most <see cref="MaxManifestBytes"/>, the shards together at most
/// <see cref="MaxShardBytes"/>, shard paths stay beside the manifest, names and shapes are checked
/// before anything is sized from them.
/// </para>
/// </summary>
public static class TfJsWeights
{
    /// <summary>The largest manifest read (16 MiB); face-api's are a few kilobytes.</summary>
    public const int MaxManifestBytes = 16 << 20;

    /// <summary>
    /// The most shard bytes one manifest may load, all groups together (128 MiB; face-api's models
    /// are under 1 MiB each). Dequantised to float32 they take up to four times as much.
    /// </summary>
    public const long MaxShardBytes = 128L << 20;

    /// <summary>The most dimensions of one weight's shape (TF.js weights have at most 5).</summary>
    public const int MaxRank = 16;

    /// <summary>The longest weight name, in characters (face-api's are under 40).</summary>
    public const int MaxNameChars = 1024;

    /// <summary>Loads every weight of <paramref name="manifestPath"/> into a <see cref="StateDict"/> (names as in the
    /// manifest, e.g. <c>dense0/conv1/bias</c>).</summary>
    /// <exception cref="DferException">The manifest or a shard is missing, a directory, too large, malformed,
    /// short or long, or names an unknown dtype; one line naming the file.</exception>
    public static StateDict Load(string manifestPath)
    {
        ArgumentNullException.ThrowIfNull(manifestPath);
        byte[] json = ReadBounded(manifestPath, MaxManifestBytes, "TF.js weights manifest");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json); }
        catch (JsonException e)
        {
            throw UserFile.Fail(manifestPath,
            $"not valid JSON ({SafeText.Plain(UserFile.OneLine(e.Message), 160)})", e);
        }
        using var _ = doc;
        JsonText.Check(manifestPath, doc.RootElement);
        if (doc.RootElement.ValueKind != JsonValueKind.Array)
            throw DferException.ForFile(manifestPath, "a TF.js weights manifest is a JSON array of weight groups");
        string dir = Path.GetDirectoryName(Path.GetFullPath(manifestPath))!;
        var dict = new StateDict(manifestPath);
        long budget = MaxShardBytes;
        int g = 0;
        foreach (var group in doc.RootElement.EnumerateArray())
        {
            var paths = RequireArray(group, "paths", manifestPath, $"group {g}");
            var weights = RequireArray(group, "weights", manifestPath, $"group {g}");
            var shards = paths.EnumerateArray().Select(p => ShardName(manifestPath, g, p)).ToList();
            var buffer = ReadShards(manifestPath, dir, shards, ref budget);
            long offset = 0;
            int k = 0;
            foreach (var w in weights.EnumerateArray())
            {
                if (w.ValueKind != JsonValueKind.Object)
                    throw DferException.ForFile(manifestPath, $"group {g}: weight entry {k} is not an object");
                offset = ReadWeight(manifestPath, ShardPaths(manifestPath, dir, shards), w, buffer, offset, dict);
                k++;
            }
            if (offset != buffer.Length)
                throw DferException.ForFile(ShardPaths(manifestPath, dir, shards),
                    $"{buffer.Length} bytes, but the manifest's weights take {offset} (shard too long, or the manifest "
                    + "is for another file)");
            g++;
        }
        return dict;
    }

    private static JsonElement RequireArray(JsonElement e, string name, string file, string where)
    {
        if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty(name, out var a)
            || a.ValueKind != JsonValueKind.Array)
            throw DferException.ForFile(file, $"{where}: missing the '{name}' array");
        return a;
    }

    /// <summary>
    /// A shard path as listed: a relative path below the manifest's folder (TF.js writes plain file
    /// names), so that a manifest cannot make Dfer read /dev/zero or a file elsewhere.
    /// </summary>
    private static string ShardName(string manifest, int group, JsonElement p)
    {
        string? name = p.ValueKind == JsonValueKind.String ? p.GetString() : null;
        if (string.IsNullOrEmpty(name))
            throw DferException.ForFile(manifest, $"group {group}: 'paths' must hold file names");
        if (name.Any(char.IsControl) || Path.IsPathRooted(name)
            || name.Split('/', '\\').Any(part => part is "" or "." or ".."))
            throw DferException.ForFile(manifest,
                $"group {group}: shard path {SafeText.Quote(name)} is not a file name relative to the manifest's "
                + "folder");
        return name;
    }

    /// <summary>The shards of a group, as errors about their bytes name them; the manifest when it lists
    /// none.</summary>
    private static string ShardPaths(string manifest, string dir, IReadOnlyList<string> shards) =>
        shards.Count == 0 ? $"{manifest} (a group that lists no shard)"
            : SafeText.Plain(string.Join(" + ", shards.Select(s => Path.Combine(dir, s))), 400);

    private static byte[] ReadShards(string manifest, string dir, IReadOnlyList<string> shards, ref long budget)
    {
        var parts = new List<byte[]>();
        long total = 0;
        foreach (var s in shards)
        {
            string path = Path.Combine(dir, s);
            if (!File.Exists(path) && !Directory.Exists(path))
                throw DferException.ForFile(path,
                    $"weight shard listed in {SafeText.Plain(Path.GetFileName(manifest))} is missing");
            byte[] part = ReadBounded(path, budget, "weight shard",
                $"the shards of {SafeText.Plain(Path.GetFileName(manifest))} together exceed Dfer's limit "
                + $"of {MaxShardBytes >> 20} MiB");
            budget -= part.Length;
            total += part.Length;
            parts.Add(part);
        }
        var all = new byte[total];
        long at = 0;
        foreach (var p in parts) { p.CopyTo(all, at); at += p.Length; }
        return all;
    }

    private static byte[] ReadBounded(string path, long limit, string what, string? overLimit = null) =>
        UserFile.ReadAllBytes(path, limit, _ => overLimit
        ?? $"{what} is larger than Dfer's limit of {limit >> 20} MiB");

    private static long ReadWeight(string manifest, string shards, JsonElement w, byte[] buffer, long offset,
        StateDict dict)
    {
        string name = w.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! :
            throw DferException.ForFile(manifest, "a weight entry has no 'name'");
        string where = $"weight {SafeText.Quote(name)}";
        if (name.Length == 0 || name.Length > MaxNameChars || name.Any(char.IsControl))
            throw DferException.ForFile(manifest,
                $"{where}: a name must be 1 to {MaxNameChars} characters without control characters");
        if (dict.TryGet(name, out _))
            throw DferException.ForFile(manifest, $"{where} appears twice");
        if (!w.TryGetProperty("shape", out var s) || s.ValueKind != JsonValueKind.Array)
            throw DferException.ForFile(manifest, $"{where} has no 'shape'");
        if (s.GetArrayLength() > MaxRank)
            throw DferException.ForFile(manifest,
                $"{where}: shape has {s.GetArrayLength()} dimensions, more than Dfer's limit of {MaxRank}");
        long[] shape = s.EnumerateArray()
            .Select(d => d.ValueKind == JsonValueKind.Number && d.TryGetInt64(out long v)
            && v is >= 0 and <= int.MaxValue ? v :
            throw DferException.ForFile(manifest,
            $"{where}: shape entries must be non-negative integers up to {int.MaxValue}")).ToArray();
        string dtype = w.TryGetProperty("dtype", out var dt) && dt.ValueKind == JsonValueKind.String ? dt.GetString()! :
            throw DferException.ForFile(manifest, $"{where} has no 'dtype'");
        if (dtype is not ("float32" or "int32"))
            throw DferException.ForFile(manifest,
                $"{where}: unsupported dtype {SafeText.Quote(dtype)} (Dfer reads float32 and int32 weights)");

        string stored = dtype;
        double scale = 1, min = 0;
        if (w.TryGetProperty("quantization", out var q) && q.ValueKind != JsonValueKind.Null)
        {
            if (q.ValueKind != JsonValueKind.Object)
                throw DferException.ForFile(manifest,
                    $"{where}: 'quantization' must be an object {{dtype, scale, min}}");
            stored = q.TryGetProperty("dtype", out var qd) && qd.ValueKind == JsonValueKind.String ? qd.GetString()! :
                throw DferException.ForFile(manifest, $"{where}: quantization has no 'dtype'");
            if (stored is "uint8" or "uint16")
            {
                if (!TryFinite(q, "scale", out scale) || !TryFinite(q, "min", out min))
                    throw DferException.ForFile(manifest,
                        $"{where}: {stored} quantization needs numeric 'scale' and 'min' (finite numbers)");
            }
            else if (stored != "float16")
                throw DferException.ForFile(manifest,
                    $"{where}: unsupported quantization dtype {SafeText.Quote(stored)} (Dfer reads uint8, uint16 and "
                    + "float16)");
        }
        int size = stored switch { "uint8" => 1, "uint16" or "float16" => 2, _ => 4 };

        // The element count is compared with the elements left in the shards before every product,
        // so it cannot overflow (each dimension is at most int.MaxValue), and once more at the end,
        // for a scalar (shape [], one element), whose product has no factor to compare.
        long left = buffer.Length - offset, fits = left / size, count = 1;
        bool over = false;
        if (!shape.Contains(0))
        {
            foreach (long d in shape)
            {
                if (count > fits / d) { over = true; break; }
                count *= d;
            }
            over |= count > fits;
        }
        else count = 0;
        if (over)
            throw DferException.ForFile(shards,
                $"too short: {where} of shape [{string.Join(", ", shape)}] needs more bytes than the {left} left in "
                + $"the shards (which hold {buffer.Length})");
        long bytes = count * size;
        var src = new ReadOnlySpan<byte>(buffer, (int)offset, (int)bytes);
        var data = new float[count];
        switch (stored)
        {
            case "float32": ElementConversion.CopyFloat32(src, data); break;
            case "float16": ElementConversion.WidenFloat16(src, data); break;
            case "int32":
                for (int i = 0; i < data.Length; i++) data[i] = BitConverter.ToInt32(src.Slice(i * 4, 4));
                break;
            case "uint8":
                for (int i = 0; i < data.Length; i++) data[i] = (float)(src[i] * scale + min);
                break;
            case "uint16":
                for (int i = 0; i < data.Length; i++)
                    data[i] = (float)(BitConverter.ToUInt16(src.Slice(i * 2, 2)) * scale + min);
                break;
        }
        dict.Add(name, dtype == "int32" ? DType.I32 : DType.F32, shape, data);
        return offset + bytes;
    }

    /// <summary>A finite JSON number field (JSON has no NaN, but 1e999 parses to infinity).</summary>
    private static bool TryFinite(JsonElement e, string name, out double value)
    {
        value = 0;
        return e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out value)
            && double.IsFinite(value);
    }
}
