using System.Text.Json;
using Dfer.IO;

namespace Dfer.Models;

/// <summary>The positional term a Temporal Encoder adds after its input projection.</summary>
public enum TemporalPositional { None, Learned, Sinusoidal }

/// <summary>
/// The JSON file next to a Temporal Encoder's weights (docs/models/temporal-encoder.md, "Files"): which features it
/// reads, its attention heads, norm placement, feed-forward activation, chunk length W, positional term and
/// LayerNorm eps.
/// </summary>
public sealed record TemporalEncoderConfig(string Features, int Heads, bool NormFirst, string Activation, int Window,
    TemporalPositional Positional, double LayerNormEps = TemporalEncoderConfig.DefaultLayerNormEps)
{
    /// <summary>PyTorch's default <c>layer_norm_eps</c>.</summary>
    public const double DefaultLayerNormEps = 1e-5;

    /// <summary>The longest chunk (4096 frames); the attention of one chunk holds W² scores per head.</summary>
    public const int MaxWindow = 4096;

    /// <summary>The largest config file read (64 KiB); a real one is about 150 bytes.</summary>
    public const long MaxBytes = 64 << 10;

    /// <summary>The feature names and their sizes.</summary>
    public static IReadOnlyDictionary<string, int> FeatureSizes { get; } = new Dictionary<string, int>
    {
        [TemporalFeatures.Pooled] = TemporalFeatures.PooledSize,
        [TemporalFeatures.Logits] = TemporalFeatures.LogitsSize,
    };

    private static readonly string[] Fields =
        ["features", "heads", "norm_first", "activation", "window", "positional", "layer_norm_eps"];

    /// <summary>The config file of a weights file: same folder and name, extension .json.</summary>
    public static string PathFor(string weights) => Path.ChangeExtension(weights, ".json");

    /// <summary>
    /// Reads and checks the config at <paramref name="path"/>; every problem found is added to
    /// <paramref name="problems"/> as a line naming the file, and the result is null when there is any.
    /// </summary>
    public static TemporalEncoderConfig? Read(string path, List<string> problems)
    {
        byte[] bytes;
        try
        {
            if (!File.Exists(path))
            {
                problems.Add($"{path}: no such file: a Temporal Encoder's weights need their JSON config next to "
                    + "them, with the same name (docs/models/temporal-encoder.md)");
                return null;
            }
            bytes = UserFile.ReadAllBytes(path, MaxBytes,
                length => $"config{(length is { } n ? $" of {n} bytes" : "")} is larger than Dfer's limit of "
                    + $"{MaxBytes >> 10} KiB");
        }
        catch (DferException e)
        {
            problems.Add(e.Message);
            return null;
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            problems.Add($"{path}: not valid JSON ({e.Message})");
            return null;
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                problems.Add($"{path}: expected a JSON object with the fields {string.Join(", ", Fields)}, found "
                    + $"{doc.RootElement.ValueKind.ToString().ToLowerInvariant()}");
                return null;
            }
            // Strings and names are decoded only when read, and bad UTF-8 or an escaped lone surrogate then throws
            // InvalidOperationException: find it here, as the file's problem (docs/fuzzing.md).
            if (JsonText.InvalidText(doc.RootElement) is { } invalid)
            {
                problems.Add($"{path}: {invalid}");
                return null;
            }
            return Parse(path, doc.RootElement, problems);
        }
    }

    private static TemporalEncoderConfig? Parse(string path, JsonElement root, List<string> problems)
    {
        int before = problems.Count;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (JsonProperty p in root.EnumerateObject())
        {
            if (!seen.Add(p.Name))
                problems.Add($"{path}: field {SafeText.Quote(p.Name)} is given twice");
            else if (!Fields.Contains(p.Name))
                problems.Add($"{path}: unknown field {SafeText.Quote(p.Name)} (the fields are "
                    + $"{string.Join(", ", Fields)})");
        }
        JsonElement? Field(string name)
        {
            if (root.TryGetProperty(name, out JsonElement e)) return e;
            if (name != "layer_norm_eps") problems.Add($"{path}: missing field \"{name}\"");
            return null;
        }
        void Wrong(string name, string expected, JsonElement e) =>
            problems.Add($"{path}: \"{name}\" must be {expected}, got {SafeText.Quote(e.GetRawText())}");

        string? features = null;
        if (Field("features") is { } f)
        {
            if (f.ValueKind == JsonValueKind.String && FeatureSizes.ContainsKey(f.GetString()!))
                features = f.GetString();
            else Wrong("features", $"one of {string.Join(", ", FeatureSizes.Keys.Select(k => $"\"{k}\""))}", f);
        }
        int heads = Integer("heads", 1, 1 << 16);
        int window = Integer("window", 1, MaxWindow);
        bool normFirst = false;
        if (Field("norm_first") is { } nf)
        {
            if (nf.ValueKind is JsonValueKind.True or JsonValueKind.False) normFirst = nf.GetBoolean();
            else Wrong("norm_first", "true or false", nf);
        }
        string? activation = Choice("activation", ["relu", "gelu"]);
        string? positional = Choice("positional", ["none", "learned", "sinusoidal"]);
        double eps = DefaultLayerNormEps;
        if (Field("layer_norm_eps") is { } le)
        {
            if (le.ValueKind == JsonValueKind.Number && le.TryGetDouble(out double v) && double.IsFinite(v) && v > 0
                && v < 1)
                eps = v;
            else Wrong("layer_norm_eps", "a number between 0 and 1 (exclusive)", le);
        }
        if (problems.Count > before) return null;
        return new TemporalEncoderConfig(features!, heads, normFirst, activation!, window,
            Enum.Parse<TemporalPositional>(positional!, ignoreCase: true), eps);

        int Integer(string name, int min, int max)
        {
            if (Field(name) is not { } e) return 0;
            if (e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int v) && v >= min && v <= max) return v;
            Wrong(name, $"an integer from {min} to {max}", e);
            return 0;
        }
        string? Choice(string name, string[] values)
        {
            if (Field(name) is not { } e) return null;
            if (e.ValueKind == JsonValueKind.String && values.Contains(e.GetString())) return e.GetString();
            Wrong(name, $"one of {string.Join(", ", values.Select(v => $"\"{v}\""))}", e);
            return null;
        }
    }
}

/// <summary>The per-frame feature vectors a Temporal Encoder can read: the expression net's pooled features or its
/// logits (docs/models/temporal-encoder.md, "Features").</summary>
public static class TemporalFeatures
{
    /// <summary>The mean over the last dense block's 7×7 map: the input of the net's fully connected layer.</summary>
    public const string Pooled = "expression.pooled";
    /// <summary>The fully connected layer's 7 outputs, in Dfer's class order.</summary>
    public const string Logits = "expression.logits";
    public const int PooledSize = 256;
    public const int LogitsSize = 7;
}
