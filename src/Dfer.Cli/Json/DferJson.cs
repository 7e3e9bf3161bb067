using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace Dfer.Cli.Json;

/// <summary>
/// Every JSON record the CLI writes, serialised by System.Text.Json's source generator: no
/// reflection at run time (trimming- and AOT-safe), and the fields in the order the records
/// declare them, under the names <see cref="JsonPropertyNameAttribute"/> gives (README documents
/// them; scripts and tests parse them). See docs/dependencies.md.
/// </summary>
[JsonSourceGenerationOptions(GenerationMode = JsonSourceGenerationMode.Default)]
[JsonSerializable(typeof(InferJson))]
[JsonSerializable(typeof(ExpressionJson))]
[JsonSerializable(typeof(ProfileJson))]
[JsonSerializable(typeof(ProfileComparisonJson))]
[JsonSerializable(typeof(ChromeTraceJson))]
[JsonSerializable(typeof(EvalJson))]
[JsonSerializable(typeof(BenchJson))]
[JsonSerializable(typeof(DetectionBenchJson))]
[JsonSerializable(typeof(DevicesJson))]
[JsonSerializable(typeof(ValidateJson))]
[JsonSerializable(typeof(ResultRowJson))]
[JsonSerializable(typeof(ResultsMetadataJson))]
[JsonSerializable(typeof(FeaturesSidecarJson))]
[JsonSerializable(typeof(FeaturesRunJson))]
[JsonSerializable(typeof(FeaturesRowJson))]
internal sealed partial class DferJson : JsonSerializerContext
{
    /// <summary>
    /// Writes <paramref name="value"/> as one line of JSON (no indentation). Paths and descriptions
    /// stay readable (no \u escapes for non-ASCII): the output is never embedded in HTML. Numbers keep
    /// full precision: the shortest text that parses back to the same float or double.
    /// </summary>
    public static void Serialize<T>(Stream stream, T value, JsonTypeInfo<T> type)
    {
        using var json =
            new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        JsonSerializer.Serialize(json, value, type);
    }

    /// <summary><see cref="Serialize{T}(Stream, T, JsonTypeInfo{T})"/> into a string.</summary>
    public static string ToLine<T>(T value, JsonTypeInfo<T> type)
    {
        var buffer = new MemoryStream();
        Serialize(buffer, value, type);
        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}

/// <summary>Output records are written, never read back through these types.</summary>
internal abstract class WriteOnlyConverter<T> : JsonConverter<T>
{
    public sealed override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        throw new NotSupportedException($"{typeof(T).Name} output fields are written, not read");
}

/// <summary>A double; a non-finite value (which JSON cannot spell) becomes null.</summary>
internal sealed class FiniteDoubleConverter : WriteOnlyConverter<double>
{
    public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options)
    {
        if (double.IsFinite(value)) writer.WriteNumberValue(value);
        else writer.WriteNullValue();
    }
}

/// <summary>A float array; each non-finite value becomes null.</summary>
internal sealed class FiniteFloatsConverter : WriteOnlyConverter<float[]>
{
    public override void Write(Utf8JsonWriter writer, float[] values, JsonSerializerOptions options)
    {
        writer.WriteStartArray();
        foreach (float v in values)
        {
            if (float.IsFinite(v)) writer.WriteNumberValue(v);
            else writer.WriteNullValue();
        }
        writer.WriteEndArray();
    }
}

/// <summary>A double array; each non-finite value becomes null.</summary>
internal sealed class FiniteDoublesConverter : WriteOnlyConverter<double[]>
{
    public override void Write(Utf8JsonWriter writer, double[] values, JsonSerializerOptions options)
    {
        writer.WriteStartArray();
        foreach (double v in values)
        {
            if (double.IsFinite(v)) writer.WriteNumberValue(v);
            else writer.WriteNullValue();
        }
        writer.WriteEndArray();
    }
}

/// <summary>An optional double: absent when null (with <see cref="JsonIgnoreCondition.WhenWritingNull"/>), null when
/// not finite.</summary>
internal sealed class FiniteNullableDoubleConverter : WriteOnlyConverter<double?>
{
    public override void Write(Utf8JsonWriter writer, double? value, JsonSerializerOptions options)
    {
        if (value is double v && double.IsFinite(v)) writer.WriteNumberValue(v);
        else writer.WriteNullValue();
    }
}
