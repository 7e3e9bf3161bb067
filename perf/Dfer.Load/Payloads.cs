using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Dfer.Cli.Serve.Protocol;
using Google.Protobuf;

namespace Dfer.Load;

/// <summary>A model's input as the server describes it (<c>GET /v2/models/{name}</c> or ModelMetadata).</summary>
internal sealed record ModelInfo(string Name, string InputName, string InputDatatype, long[] InputShape,
    string[] Outputs)
{
    /// <summary>The input shape of a request of <paramref name="clips"/> clips: the first free (-1) dimension set to
    /// it, any other free dimension refused.</summary>
    public long[] ShapeFor(int clips)
    {
        if (InputShape.Length == 0 || InputShape[0] != -1 || InputShape.Skip(1).Any(d => d <= 0))
            throw new LoadException($"model {Name}: input {InputName} has shape [{string.Join(',', InputShape)}]; "
                + "dfer-load needs a free batch dimension first and fixed ones after it");
        long[] shape = (long[])InputShape.Clone();
        shape[0] = clips;
        return shape;
    }

    /// <summary>Values of one clip (the product of the dimensions after the batch one).</summary>
    public int ElementsPerClip => checked((int)InputShape.Skip(1).Aggregate(1L, (a, b) => a * b));

    /// <summary>Reads <c>GET /v2/models/{name}</c>'s JSON.</summary>
    public static ModelInfo FromJson(string model, byte[] json)
    {
        try
        {
            using var doc = JsonDocument.Parse(json);
            JsonElement root = doc.RootElement;
            JsonElement input = root.GetProperty("inputs")[0];
            return new ModelInfo(
                root.TryGetProperty("name", out JsonElement n) ? n.GetString() ?? model : model,
                input.GetProperty("name").GetString() ?? "",
                input.GetProperty("datatype").GetString() ?? "",
                input.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray(),
                root.GetProperty("outputs").EnumerateArray()
                    .Select(o => o.GetProperty("name").GetString() ?? "").ToArray());
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException
            or IndexOutOfRangeException or FormatException)
        {
            throw new LoadException(
                $"/v2/models/{model}: not the model metadata the protocol describes ({ex.Message})");
        }
    }

    /// <summary>Reads ModelMetadata's answer.</summary>
    public static ModelInfo FromGrpc(ModelMetadataResponse response)
    {
        if (response.Inputs.Count == 0) throw new LoadException($"ModelMetadata {response.Name}: no inputs");
        var input = response.Inputs[0];
        return new ModelInfo(response.Name, input.Name, input.Datatype, input.Shape.ToArray(),
            response.Outputs.Select(o => o.Name).ToArray());
    }
}

/// <summary>
/// Clip values: a fixed-seed SplitMix64 stream mapped to floats in [-1, 1), the same on every machine and .NET
/// version, generated once per run and reused by every request.
/// </summary>
internal static class ClipData
{
    public static float[] Generate(ulong seed, int count)
    {
        var values = new float[count];
        ulong state = seed;
        for (int i = 0; i < count; i++)
        {
            state += 0x9E3779B97F4A7C15UL;
            ulong z = state;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            // The top 24 bits: exact in a float.
            values[i] = (z >> 40) / (float)(1 << 23) - 1f;
        }
        return values;
    }

    /// <summary>The values as little-endian bytes (the protocol's raw tensor layout).</summary>
    public static byte[] LittleEndian(ReadOnlySpan<float> values)
    {
        var bytes = new byte[values.Length * sizeof(float)];
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), values[i]);
        return bytes;
    }
}

/// <summary>An output tensor of a response.</summary>
internal sealed record OutputTensor(string Name, string Datatype, long[] Shape, float[] Data);

/// <summary>
/// Request bodies of the three protocols (perf/Dfer.Load/README.md) and readers of their answers. The builders
/// take the shape, datatype and sizes apart from the data, so fault mode can make each of them wrong on purpose.
/// </summary>
internal static class Payloads
{
    /// <summary>The outputs dfer serve has (README); binary requests ask for them by name.</summary>
    public static readonly string[] DferOutputs = ["logits", "probabilities"];

    /// <summary>The request header naming the JSON part's length (the binary tensor extension).</summary>
    public const string HeaderLength = "Inference-Header-Content-Length";

    /// <summary>A JSON infer body: <c>{"inputs":[{"name","datatype","shape","data":[...]}]}</c>.</summary>
    public static byte[] Json(string inputName, string datatype, long[] shape, ReadOnlySpan<float> data)
    {
        using var stream = new MemoryStream(data.Length * 12 + 256);
        using (var writer = new Utf8JsonWriter(stream))
        {
            StartInput(writer, inputName, datatype, shape);
            writer.WriteStartArray("data");
            // Shortest round-trip text: the server parses back the same float bits.
            foreach (float v in data) writer.WriteNumberValue(v);
            writer.WriteEndArray();
            writer.WriteEndObject();
            writer.WriteEndArray();
            writer.WriteEndObject();
        }
        return stream.ToArray();
    }

    /// <summary>Opens the request object and its one input, writing the input's name, datatype and shape; the
    /// caller adds the data or parameters and closes both.</summary>
    private static void StartInput(Utf8JsonWriter writer, string inputName, string datatype, long[] shape)
    {
        writer.WriteStartObject();
        writer.WriteStartArray("inputs");
        writer.WriteStartObject();
        writer.WriteString("name", inputName);
        writer.WriteString("datatype", datatype);
        writer.WriteStartArray("shape");
        foreach (long d in shape) writer.WriteNumberValue(d);
        writer.WriteEndArray();
    }

    /// <summary>
    /// A binary-extension infer body: the JSON header (the input with <c>binary_data_size</c> =
    /// <paramref name="declaredSize"/>, default the raw length; outputs asked as binary) followed by
    /// <paramref name="raw"/>. Returns the body and the header's length in bytes.
    /// </summary>
    public static (byte[] Body, int HeaderLength) Binary(string inputName, string datatype, long[] shape,
        ReadOnlySpan<byte> raw, long? declaredSize = null, IEnumerable<string>? binaryOutputs = null)
    {
        using var header = new MemoryStream();
        using (var writer = new Utf8JsonWriter(header))
        {
            StartInput(writer, inputName, datatype, shape);
            writer.WriteStartObject("parameters");
            writer.WriteNumber("binary_data_size", declaredSize ?? raw.Length);
            writer.WriteEndObject();
            writer.WriteEndObject();
            writer.WriteEndArray();
            writer.WriteStartArray("outputs");
            foreach (string output in binaryOutputs ?? DferOutputs)
            {
                writer.WriteStartObject();
                writer.WriteString("name", output);
                writer.WriteStartObject("parameters");
                writer.WriteBoolean("binary_data", true);
                writer.WriteEndObject();
                writer.WriteEndObject();
            }
            writer.WriteEndArray();
            writer.WriteEndObject();
        }
        var body = new byte[header.Length + raw.Length];
        header.ToArray().CopyTo(body, 0);
        raw.CopyTo(body.AsSpan((int)header.Length));
        return (body, (int)header.Length);
    }

    /// <summary>A gRPC ModelInfer request carrying the tensor in raw_input_contents.</summary>
    public static ModelInferRequest Grpc(string model, string inputName, string datatype, long[] shape,
        ByteString raw)
    {
        var input = new ModelInferRequest.Types.InferInputTensor { Name = inputName, Datatype = datatype };
        input.Shape.AddRange(shape);
        var request = new ModelInferRequest { ModelName = model, Inputs = { input } };
        request.RawInputContents.Add(raw);
        return request;
    }

    /// <summary>Reads a JSON infer answer's outputs.</summary>
    public static List<OutputTensor> ReadJson(ReadOnlySpan<byte> body) => ReadJsonOutputs(body, null);

    /// <summary>
    /// Reads a binary-extension answer: <paramref name="headerLength"/> bytes of JSON (the whole body when null),
    /// then each output that has <c>binary_data_size</c>, in order.
    /// </summary>
    public static List<OutputTensor> ReadBinary(ReadOnlySpan<byte> body, int? headerLength)
    {
        if (headerLength is { } h && (h < 0 || h > body.Length))
            throw new FormatException($"{HeaderLength} {h} is outside the {body.Length}-byte body");
        int length = headerLength ?? body.Length;
        return ReadJsonOutputs(body[..length], body[length..].ToArray());
    }

    private static List<OutputTensor> ReadJsonOutputs(ReadOnlySpan<byte> json, byte[]? binary)
    {
        var outputs = new List<OutputTensor>();
        var reader = new Utf8JsonReader(json);
        using var doc = JsonDocument.ParseValue(ref reader);
        int offset = 0;
        foreach (JsonElement o in doc.RootElement.GetProperty("outputs").EnumerateArray())
        {
            string name = o.GetProperty("name").GetString() ?? "";
            string datatype = o.GetProperty("datatype").GetString() ?? "";
            long[] shape = o.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            float[] data;
            if (o.TryGetProperty("parameters", out JsonElement p) && p.ValueKind == JsonValueKind.Object
                && p.TryGetProperty("binary_data_size", out JsonElement sizeElement))
            {
                long size = sizeElement.GetInt64();
                if (binary is null || size < 0 || offset + size > binary.Length || size % 4 != 0)
                    throw new FormatException($"output {name}: binary_data_size {size} does not fit the body");
                data = MemoryMarshal.Cast<byte, float>(binary.AsSpan(offset, (int)size)).ToArray();
                offset += (int)size;
            }
            else
            {
                data = o.GetProperty("data").EnumerateArray().Select(e => e.GetSingle()).ToArray();
            }
            outputs.Add(new OutputTensor(name, datatype, shape, data));
        }
        if (binary is not null && offset != binary.Length)
            throw new FormatException($"{binary.Length - offset} bytes after the last binary output");
        return outputs;
    }

    /// <summary>Reads a gRPC answer's outputs (raw_output_contents or typed contents).</summary>
    public static List<OutputTensor> ReadGrpc(ModelInferResponse response)
    {
        var outputs = new List<OutputTensor>();
        for (int i = 0; i < response.Outputs.Count; i++)
        {
            var o = response.Outputs[i];
            float[] data = response.RawOutputContents.Count > 0
                ? MemoryMarshal.Cast<byte, float>(response.RawOutputContents[i].Span).ToArray()
                : o.Contents?.Fp32Contents.ToArray() ?? [];
            outputs.Add(new OutputTensor(o.Name, o.Datatype, o.Shape.ToArray(), data));
        }
        return outputs;
    }

    /// <summary>
    /// Null when <paramref name="outputs"/> are what a request of <paramref name="clips"/> clips must get: each
    /// expected output present, FP32, shape [clips, k] with k·clips values, all finite; otherwise what is wrong.
    /// </summary>
    public static string? Check(IReadOnlyList<OutputTensor> outputs, int clips, IEnumerable<string> expected)
    {
        foreach (string name in expected)
        {
            OutputTensor? o = outputs.FirstOrDefault(t => t.Name == name);
            if (o is null) return $"no output {name}";
            if (o.Datatype != "FP32") return $"output {name} is {o.Datatype}, not FP32";
            if (o.Shape.Length != 2 || o.Shape[0] != clips || o.Shape[1] <= 0)
                return $"output {name} has shape [{string.Join(',', o.Shape)}], not [{clips}, k]";
            if (o.Data.Length != o.Shape[0] * o.Shape[1])
                return $"output {name} has {o.Data.Length} values for shape [{string.Join(',', o.Shape)}]";
            if (o.Data.Any(v => !float.IsFinite(v))) return $"output {name} has non-finite values";
        }
        return null;
    }

    /// <summary>The bits of <paramref name="values"/> as hex, for an exact comparison and its message.</summary>
    public static string Bits(float[] values) =>
        string.Join(' ', values.Select(v =>
            BitConverter.SingleToUInt32Bits(v).ToString("x8", CultureInfo.InvariantCulture)));

    /// <summary>UTF-8 text of <paramref name="body"/> for a message: one line, at most 200 characters.</summary>
    public static string Excerpt(ReadOnlySpan<byte> body)
    {
        string text = Encoding.UTF8.GetString(body[..Math.Min(body.Length, 400)]);
        var safe = new StringBuilder();
        foreach (char c in text) safe.Append(char.IsControl(c) ? ' ' : c);
        string s = safe.ToString().Trim();
        return s.Length <= 200 ? s : s[..200] + "…";
    }
}

/// <summary>A problem of the run (unreachable server, bad answer to a setup call): one line, exit code 2.</summary>
internal sealed class LoadException(string message) : Exception(message);
