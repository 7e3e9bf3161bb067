using System.Text.Json;
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
/// </summary>
public static class TfJsWeights
{
    /// <summary>Loads every weight of <paramref name="manifestPath"/> into a <see cref="StateDict"/> (names as in the manifest, e.g. <c>dense0/conv1/bias</c>).</summary>
    /// <exception cref="DferException">The manifest or a shard is missing, malformed, short or long, or names an unknown dtype.</exception>
    public static StateDict Load(string manifestPath)
    {
        if (!File.Exists(manifestPath)) throw DferException.ForFile(manifestPath, "no such TF.js weights manifest");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(manifestPath)); }
        catch (JsonException e) { throw DferException.ForFile(manifestPath, $"not valid JSON ({e.Message})"); }
        using var _ = doc;
        if (doc.RootElement.ValueKind != JsonValueKind.Array)
            throw DferException.ForFile(manifestPath, "a TF.js weights manifest is a JSON array of weight groups");
        string dir = Path.GetDirectoryName(Path.GetFullPath(manifestPath))!;
        var dict = new StateDict(manifestPath);
        int g = 0;
        foreach (var group in doc.RootElement.EnumerateArray())
        {
            var paths = RequireArray(group, "paths", manifestPath, $"group {g}");
            var weights = RequireArray(group, "weights", manifestPath, $"group {g}");
            var shards = paths.EnumerateArray().Select(p => p.ValueKind == JsonValueKind.String ? p.GetString()! :
                throw DferException.ForFile(manifestPath, $"group {g}: 'paths' must hold file names")).ToList();
            var buffer = ReadShards(manifestPath, dir, shards);
            long offset = 0;
            foreach (var w in weights.EnumerateArray())
                offset = ReadWeight(manifestPath, shards, w, buffer, offset, dict);
            if (offset != buffer.Length)
                throw DferException.ForFile(ShardNames(dir, shards), $"{buffer.Length} bytes, but the manifest's weights take {offset} (shard too long, or the manifest is for another file)");
            g++;
        }
        return dict;
    }

    private static JsonElement RequireArray(JsonElement e, string name, string file, string where)
    {
        if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty(name, out var a) || a.ValueKind != JsonValueKind.Array)
            throw DferException.ForFile(file, $"{where}: missing the '{name}' array");
        return a;
    }

    private static string ShardNames(string dir, IReadOnlyList<string> shards) =>
        string.Join(" + ", shards.Select(s => Path.Combine(dir, s)));

    private static byte[] ReadShards(string manifest, string dir, IReadOnlyList<string> shards)
    {
        var parts = new List<byte[]>();
        foreach (var s in shards)
        {
            string path = Path.Combine(dir, s);
            if (!File.Exists(path)) throw DferException.ForFile(path, $"weight shard listed in {Path.GetFileName(manifest)} is missing");
            parts.Add(File.ReadAllBytes(path));
        }
        var all = new byte[parts.Sum(p => (long)p.Length)];
        long at = 0;
        foreach (var p in parts) { p.CopyTo(all, at); at += p.Length; }
        return all;
    }

    private static long ReadWeight(string manifest, IReadOnlyList<string> shards, JsonElement w, byte[] buffer, long offset, StateDict dict)
    {
        string name = w.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! :
            throw DferException.ForFile(manifest, "a weight entry has no 'name'");
        string where = $"weight '{name}'";
        if (!w.TryGetProperty("shape", out var s) || s.ValueKind != JsonValueKind.Array)
            throw DferException.ForFile(manifest, $"{where} has no 'shape'");
        long[] shape = s.EnumerateArray().Select(d => d.TryGetInt64(out long v) && v >= 0 ? v :
            throw DferException.ForFile(manifest, $"{where}: shape entries must be non-negative integers")).ToArray();
        long count = shape.Aggregate(1L, (a, b) => a * b);
        string dtype = w.TryGetProperty("dtype", out var dt) && dt.ValueKind == JsonValueKind.String ? dt.GetString()! :
            throw DferException.ForFile(manifest, $"{where} has no 'dtype'");
        if (dtype is not ("float32" or "int32"))
            throw DferException.ForFile(manifest, $"{where}: unsupported dtype '{dtype}' (Dfer reads float32 and int32 weights)");

        string stored = dtype;
        double scale = 1, min = 0;
        if (w.TryGetProperty("quantization", out var q) && q.ValueKind == JsonValueKind.Object)
        {
            stored = q.TryGetProperty("dtype", out var qd) && qd.ValueKind == JsonValueKind.String ? qd.GetString()! :
                throw DferException.ForFile(manifest, $"{where}: quantization has no 'dtype'");
            if (stored is "uint8" or "uint16")
            {
                if (!q.TryGetProperty("scale", out var sc) || !sc.TryGetDouble(out scale) || !q.TryGetProperty("min", out var mn) || !mn.TryGetDouble(out min))
                    throw DferException.ForFile(manifest, $"{where}: {stored} quantization needs numeric 'scale' and 'min'");
            }
            else if (stored != "float16")
                throw DferException.ForFile(manifest, $"{where}: unsupported quantization dtype '{stored}' (Dfer reads uint8, uint16 and float16)");
        }
        int size = stored switch { "uint8" => 1, "uint16" or "float16" => 2, _ => 4 };
        long bytes = count * size;
        if (offset + bytes > buffer.Length)
            throw DferException.ForFile(string.Join(" + ", shards), $"too short: {where} needs bytes {offset}..{offset + bytes} but the shards hold {buffer.Length}");
        var src = new ReadOnlySpan<byte>(buffer, (int)offset, (int)bytes);
        var data = new float[count];
        switch (stored)
        {
            case "float32": ElementConversion.CopyFloat32(src, data); break;
            case "float16": ElementConversion.WidenFloat16(src, data); break;
            case "int32":
                for (long i = 0; i < count; i++) data[i] = BitConverter.ToInt32(src.Slice((int)i * 4, 4));
                break;
            case "uint8":
                for (long i = 0; i < count; i++) data[i] = (float)(src[(int)i] * scale + min);
                break;
            case "uint16":
                for (long i = 0; i < count; i++) data[i] = (float)(BitConverter.ToUInt16(src.Slice((int)i * 2, 2)) * scale + min);
                break;
        }
        dict.Add(name, dtype == "int32" ? DType.I32 : DType.F32, shape, data);
        return offset + bytes;
    }
}
