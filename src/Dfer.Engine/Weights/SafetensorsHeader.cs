using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;
using Dfer.IO;
using Dfer.Tensors;

namespace Dfer.Weights;

/// <summary>Parses and validates the JSON header of a safetensors file.</summary>
internal static class SafetensorsHeader
{
    /// <summary>The reference implementation's limit; anything larger is garbage, not a header.</summary>
    internal const long MaxHeaderBytes = CheckpointLimits.MaxSafetensorsHeaderBytes;

    internal const string MetadataKey = "__metadata__";

    internal const string SupportedDTypes = "F32, F16, BF16, F64, I64, I32, U8, BOOL";

    /// <summary>
    /// Parses <paramref name="json"/> into entries (in header order) and metadata, checking every
    /// entry against a data section of <paramref name="dataLength"/> bytes.
    /// </summary>
    internal static (List<SafetensorsEntry> Entries, Dictionary<string, string> Metadata) Parse(
        string path, ReadOnlyMemory<byte> json, long dataLength)
    {
        // JsonDocument checks UTF-8 only lazily, when a string is read, and then throws
        // InvalidOperationException; check up front to report it properly.
        if (!Utf8.IsValid(json.Span))
            throw UserFile.Fail(path,
                $"header is not valid UTF-8 (first bad byte at header offset {FirstInvalidUtf8(json.Span)})");

        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json);
        }
        catch (JsonException ex)
        {
            throw UserFile.Fail(path, $"header is not valid JSON: {UserFile.OneLine(ex.Message)}", ex);
        }

        using (doc)
        {
            try
            {
                return ParseRoot(path, doc.RootElement, dataLength);
            }
            catch (InvalidOperationException ex)
            {
                // Escapes such as "\udc00" pass the parser but cannot be decoded into a string.
                throw UserFile.Fail(path,
                    $"header holds a string that is not valid Unicode: {UserFile.OneLine(ex.Message)}", ex);
            }
        }
    }

    private static (List<SafetensorsEntry> Entries, Dictionary<string, string> Metadata) ParseRoot(
        string path, JsonElement root, long dataLength)
    {
        if (root.ValueKind != JsonValueKind.Object)
            throw UserFile.Fail(path,
                $"header is a JSON {Kind(root)}, expected an object mapping tensor names to dtype, shape and "
                + "data_offsets");

        var entries = new List<SafetensorsEntry>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        Dictionary<string, string>? metadata = null;
        foreach (JsonProperty prop in root.EnumerateObject())
        {
            if (prop.Name == MetadataKey)
            {
                if (metadata is not null) throw UserFile.Fail(path, $"header has two \"{MetadataKey}\" entries");
                metadata = ParseMetadata(path, prop.Value);
                continue;
            }
            // JSON permits repeated keys; a later tensor silently shadowing an earlier one
            // would load the wrong weights.
            if (!names.Add(prop.Name))
                throw UserFile.Fail(path, $"duplicate tensor name {SafeText.Quote(prop.Name)} in the header");
            entries.Add(ParseEntry(path, prop.Name, prop.Value, dataLength));
        }

        CheckOverlaps(path, entries);
        return (entries, metadata ?? new Dictionary<string, string>(StringComparer.Ordinal));
    }

    /// <summary>Maps a safetensors dtype name to <see cref="DType"/>; null when unsupported.</summary>
    internal static DType? ParseDType(string name) => name switch
    {
        "F32" => DType.F32,
        "F16" => DType.F16,
        "BF16" => DType.BF16,
        "F64" => DType.F64,
        "I64" => DType.I64,
        "I32" => DType.I32,
        "U8" => DType.U8,
        "BOOL" => DType.Bool,
        _ => null,
    };

    internal static string FormatShape(IReadOnlyList<long> shape) => $"[{string.Join(", ", shape)}]";

    private static Dictionary<string, string> ParseMetadata(string path, JsonElement value)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw UserFile.Fail(path,
                $"\"{MetadataKey}\" is a JSON {Kind(value)}, expected an object mapping strings to strings");
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (JsonProperty prop in value.EnumerateObject())
        {
            if (prop.Value.ValueKind != JsonValueKind.String)
                throw UserFile.Fail(path,
                    $"\"{MetadataKey}\" value for key {SafeText.Quote(prop.Name)} is a JSON {Kind(prop.Value)}, "
                    + "expected a string");
            if (!metadata.TryAdd(prop.Name, prop.Value.GetString()!))
                throw UserFile.Fail(path, $"duplicate key {SafeText.Quote(prop.Name)} in \"{MetadataKey}\"");
        }
        return metadata;
    }

    private static SafetensorsEntry ParseEntry(string path, string name, JsonElement value, long dataLength)
    {
        string tensor = $"tensor {SafeText.Quote(name)}";
        if (value.ValueKind != JsonValueKind.Object)
            throw UserFile.Fail(path,
                $"{tensor} is a JSON {Kind(value)}, expected an object with dtype, shape and data_offsets");

        JsonElement dtypeElement = Field(path, tensor, value, "dtype");
        if (dtypeElement.ValueKind != JsonValueKind.String)
            throw UserFile.Fail(path,
                $"{tensor}: \"dtype\" is a JSON {Kind(dtypeElement)}, expected a string such as \"F32\"");
        string dtypeName = dtypeElement.GetString()!;
        DType dtype = ParseDType(dtypeName)
            ?? throw UserFile.Fail(path,
            $"{tensor} has dtype {SafeText.Quote(dtypeName)}, which Dfer does not support "
            + $"(supported: {SupportedDTypes})");

        JsonElement shapeElement = Field(path, tensor, value, "shape");
        if (shapeElement.ValueKind != JsonValueKind.Array)
            throw UserFile.Fail(path,
                $"{tensor}: \"shape\" is a JSON {Kind(shapeElement)}, expected an array of non-negative integers");
        int rank = shapeElement.GetArrayLength();
        if (rank > CheckpointLimits.MaxRank)
            throw UserFile.Fail(path, $"{tensor} has {rank} dimensions; Dfer reads at most {CheckpointLimits.MaxRank}");
        var shape = new long[rank];
        int axis = 0;
        foreach (JsonElement dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long d) || d < 0)
                throw UserFile.Fail(path,
                    $"{tensor}: shape dimension {axis} is {Raw(dim)}; dimensions must be non-negative integers");
            shape[axis++] = d;
        }

        JsonElement offsetsElement = Field(path, tensor, value, "data_offsets");
        if (offsetsElement.ValueKind != JsonValueKind.Array || offsetsElement.GetArrayLength() != 2
            || !NonNegative(offsetsElement[0], out long begin) || !NonNegative(offsetsElement[1], out long end))
            throw UserFile.Fail(path,
                $"{tensor}: \"data_offsets\" is {Raw(offsetsElement)}, expected [begin, end] with non-negative "
                + "integers");
        if (end < begin)
            throw UserFile.Fail(path, $"{tensor} data_offsets [{begin}, {end}) end before they begin");
        if (end > dataLength)
            throw UserFile.Fail(path,
                $"{tensor} data [{begin}, {end}) reaches past the end of the data section ({dataLength} bytes)");

        long count;
        long expected;
        try
        {
            count = 1;
            foreach (long d in shape) count = checked(count * d);
            expected = checked(count * dtype.Size());
        }
        catch (OverflowException)
        {
            throw UserFile.Fail(path, $"{tensor} has shape {FormatShape(shape)}, too many elements to address");
        }
        if (expected != end - begin)
            throw UserFile.Fail(path,
                $"{tensor} ({dtype.SafetensorsName()} {FormatShape(shape)}) needs {expected} bytes but its "
                + $"data_offsets [{begin}, {end}) span {end - begin} bytes");

        return new SafetensorsEntry(name, dtype, shape, begin, end);
    }

    /// <summary>
    /// Rejects tensors sharing bytes: writing through one (after a copy) or quantising one would
    /// silently corrupt the other, and no writer produces such files on purpose.
    /// </summary>
    private static void CheckOverlaps(string path, List<SafetensorsEntry> entries)
    {
        // Empty tensors occupy no bytes, so [8, 8) sitting inside [0, 16) is no overlap.
        var occupied = entries.Where(e => e.End > e.Begin).OrderBy(e => e.Begin).ThenBy(e => e.End).ToList();
        SafetensorsEntry? furthest = null;
        foreach (SafetensorsEntry e in occupied)
        {
            if (furthest is not null && e.Begin < furthest.End)
                throw UserFile.Fail(path,
                    $"tensors {SafeText.Quote(furthest.Name)} [{furthest.Begin}, {furthest.End}) "
                    + $"and {SafeText.Quote(e.Name)} [{e.Begin}, {e.End}) overlap");
            if (furthest is null || e.End > furthest.End) furthest = e;
        }
    }

    private static JsonElement Field(string path, string tensor, JsonElement entry, string field) =>
        entry.TryGetProperty(field, out JsonElement value)
            ? value
            : throw UserFile.Fail(path, $"{tensor} has no \"{field}\" field");

    private static bool NonNegative(JsonElement e, out long value)
    {
        value = 0;
        return e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out value) && value >= 0;
    }

    private static int FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        int offset = 0;
        while (offset < bytes.Length
            && Rune.DecodeFromUtf8(bytes[offset..], out _, out int consumed) == OperationStatus.Done)
            offset += consumed;
        return offset;
    }

    private static string Kind(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.Number => "number",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        JsonValueKind.Null => "null",
        _ => "value",
    };

    /// <summary>The offending JSON as written, shortened so a huge array cannot flood the message.</summary>
    private static string Raw(JsonElement e)
    {
        string raw = UserFile.OneLine(e.GetRawText());
        return raw.Length <= 60 ? raw : raw[..57] + "...";
    }
}
