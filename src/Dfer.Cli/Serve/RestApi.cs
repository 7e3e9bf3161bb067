using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Dfer.Runtime;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;

namespace Dfer.Cli.Serve;

/// <summary>
/// The Open Inference Protocol over HTTP/REST (docs/serving.md, "REST"): health, metadata and inference with JSON
/// tensors or with the binary tensor extension (an <c>Inference-Header-Content-Length</c> header; the JSON header,
/// then each binary input's raw little-endian bytes). Errors are <c>{"error": "..."}</c> with the status of
/// <see cref="OipException"/>.
/// </summary>
internal static class RestApi
{
    /// <summary>The header that splits a binary request or response into its JSON header and the tensors' bytes.
    /// </summary>
    public const string HeaderLength = "Inference-Header-Content-Length";

    /// <summary>Quotes and the like as themselves ("unknown model 'x'"), not \u0027: the answers are JSON documents,
    /// never embedded in HTML.</summary>
    private static readonly JsonWriterOptions WriterOptions =
        new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static void Map(IEndpointRouteBuilder app, InferenceCore core)
    {
        app.MapGet("/v2/health/live", () => Json(200, w => w.WriteBoolean("live", true)));
        app.MapGet("/v2/health/ready", () => Json(core.Ready ? 200 : 503, w => w.WriteBoolean("ready", core.Ready)));
        app.MapGet("/v2", () => Json(200, w =>
        {
            w.WriteString("name", InferenceCore.ServerName);
            w.WriteString("version", InferenceCore.Version);
            w.WriteStartArray("extensions");
            foreach (string e in InferenceCore.Extensions) w.WriteStringValue(e);
            w.WriteEndArray();
        }));
        foreach (string prefix in new[] { "/v2/models/{name}", "/v2/models/{name}/versions/{version}" })
        {
            app.MapGet(prefix, (string name, string? version) => Guard(() => Metadata(core.Find(name, version))));
            app.MapGet(prefix + "/ready", (string name, string? version) => Guard(() =>
            {
                ServedModel model = core.Find(name, version);
                bool ready = model.Ready && !core.Stopping;
                return Json(ready ? 200 : 503, w =>
                {
                    w.WriteString("name", model.Name);
                    w.WriteBoolean("ready", ready);
                });
            }));
            app.MapPost(prefix + "/infer", (HttpContext http, string name, string? version) =>
                InferAsync(http, core, name, version));
        }
    }

    private static IResult Metadata(ServedModel model) => Json(200, w =>
    {
        w.WriteString("name", model.Name);
        w.WriteStartArray("versions");
        w.WriteStringValue("1");
        w.WriteEndArray();
        w.WriteString("platform", InferenceCore.ServerName);
        Tensors(w, "inputs", model.Inputs);
        Tensors(w, "outputs", model.Outputs);
        // Not in the REST schema, which lists no properties; the same map as gRPC's ModelMetadataResponse.properties.
        w.WriteStartObject("properties");
        foreach (var (k, v) in model.Properties) w.WriteString(k, v);
        w.WriteEndObject();
    });

    private static void Tensors(Utf8JsonWriter w, string name, IEnumerable<TensorSpec> specs)
    {
        w.WriteStartArray(name);
        foreach (TensorSpec t in specs)
        {
            w.WriteStartObject();
            w.WriteString("name", t.Name);
            w.WriteString("datatype", t.Datatype);
            w.WriteStartArray("shape");
            foreach (long d in t.Shape) w.WriteNumberValue(d);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    /// <summary>POST .../infer: decode, check, batch, encode; every failure one <c>{"error"}</c> line.</summary>
    private static async Task InferAsync(HttpContext http, InferenceCore core, string name, string? version)
    {
        long started = Stopwatch.GetTimestamp();
        string counted = core.Settings.Models.Any(m => m.Name == name) ? name : "unknown";
        try
        {
            ServedModel model = core.ForInference(name, version);
            using IDisposable slot = core.Admit(model);
            // Body and clips are rented from the server's bounded pools (a stream of 2-20 MiB requests would otherwise
            // churn the large-object heap): the body goes back once decoded, the clips once the batcher has copied
            // them.
            var (body, length, pooled) = await ReadBodyAsync(http, core.Settings.MaxBodyBytes, core.BodyPool)
                .ConfigureAwait(false);
            Decoded request;
            try
            {
                request = DecodeRequest(model, body.AsMemory(0, length), http.Request.Headers[HeaderLength].ToString(),
                    core.Settings.MaxBodyBytes, core.ClipPool);
            }
            finally
            {
                if (pooled) core.BodyPool.Return(body);
            }
            ClipResult[] results = await core.InferAsync(model, request.Clips, request.Count, http.RequestAborted,
                pooled: true, arrived: started).ConfigureAwait(false);
            await WriteResponseAsync(http, model, request, results).ConfigureAwait(false);
            core.Count(counted, "rest", started, null);
        }
        catch (OipException ex)
        {
            core.Count(counted, "rest", started, ex.HttpStatus.ToString(CultureInfo.InvariantCulture));
            await WriteErrorAsync(http, ex.HttpStatus, ex.Message).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException
            || (ex is OperationCanceledException && http.RequestAborted.IsCancellationRequested))
        {
            // The client went away: mid-body the read fails with the connection's IOException (reset by peer, before
            // the request counts as aborted); while waiting its request left its batch. Nobody is left to answer.
            core.Count(counted, "rest", started, "cancelled");
        }
    }

    /// <summary>The whole body, refused with 413 past <paramref name="max"/> bytes whatever Content-Length claims.
    /// </summary>
    private static async Task<(byte[] Body, int Length, bool Pooled)> ReadBodyAsync(HttpContext http, long max,
        ArrayPool<byte> pool)
    {
        long? declared = http.Request.ContentLength;
        if (declared > max)
            throw OipException.TooLarge(
                $"the request body is {declared} bytes, more than --max-body-mb allows ({max})");
        var feature = http.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (feature is { IsReadOnly: false }) feature.MaxRequestBodySize = max;
        try
        {
            if (declared is long length)
            {
                // Known length: read straight into a pooled array (Kestrel stops a body at its length).
                byte[] body = pool.Rent((int)length);
                try
                {
                    int at = 0;
                    while (at < length)
                    {
                        int n = await http.Request.Body.ReadAsync(body.AsMemory(at, (int)length - at),
                            http.RequestAborted).ConfigureAwait(false);
                        if (n == 0) throw OipException.BadRequest($"the body ended after {at} of its {length} bytes");
                        at += n;
                    }
                    return (body, (int)length, true);
                }
                catch
                {
                    pool.Return(body);
                    throw;
                }
            }
            using var buffer = new MemoryStream();
            var chunk = new byte[1 << 16];
            while (true)
            {
                int n = await http.Request.Body.ReadAsync(chunk, http.RequestAborted).ConfigureAwait(false);
                if (n == 0) return (buffer.GetBuffer(), (int)buffer.Length, false);
                if (buffer.Length + n > max)
                    throw OipException.TooLarge($"the request body is more than --max-body-mb allows ({max} bytes)");
                buffer.Write(chunk, 0, n);
            }
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == 413)
        {
            throw OipException.TooLarge($"the request body is more than --max-body-mb allows ({max} bytes)");
        }
        catch (BadHttpRequestException ex)
        {
            // Kestrel's word for a body that ended early or came too slowly.
            throw OipException.BadRequest($"the request body could not be read: {ex.Message}");
        }
    }

    /// <summary>A decoded inference request: the clips, the id to echo, the outputs wanted and whether each comes back
    /// in binary.</summary>
    internal sealed record Decoded(float[] Clips, int Count, string? Id, IReadOnlyList<TensorSpec> Outputs,
        bool[] Binary);

    /// <summary>Decodes a JSON or binary-extension request (<paramref name="headerLength"/> is the header's value or
    /// empty) and checks it against the model: every problem an <see cref="OipException"/> naming it.</summary>
    internal static Decoded DecodeRequest(ServedModel model, ReadOnlyMemory<byte> body, string headerLength,
        long maxBody, ArrayPool<float> pool)
    {
        int jsonLength = body.Length;
        if (headerLength.Length > 0)
        {
            if (!int.TryParse(headerLength, NumberStyles.None, CultureInfo.InvariantCulture, out jsonLength)
                || jsonLength > body.Length)
                throw OipException.BadRequest($"{HeaderLength}: '{SafeText.Escape(headerLength)}' is not a length "
                    + $"within the {body.Length}-byte body");
        }
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(body[..jsonLength], new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException ex)
        {
            throw OipException.BadRequest($"the request is not valid JSON: {OneLine(ex.Message)}");
        }
        using (doc)
        {
            JsonElement root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw OipException.BadRequest("the request is not a JSON object");
            string? id = OptionalString(root, "id");
            if (!root.TryGetProperty("inputs", out JsonElement inputs) || inputs.ValueKind != JsonValueKind.Array)
                throw OipException.BadRequest("the request has no \"inputs\" array");
            if (inputs.GetArrayLength() != 1)
                throw OipException.BadRequest($"the request has {inputs.GetArrayLength()} inputs; model "
                    + $"'{model.Name}' takes one, '{model.Inputs[0].Name}'");
            JsonElement input = inputs[0];
            if (input.ValueKind != JsonValueKind.Object) throw OipException.BadRequest("an input is not a JSON object");
            string name = OptionalString(input, "name") ?? throw OipException.BadRequest("an input has no \"name\"");
            string datatype = OptionalString(input, "datatype")
                ?? throw OipException.BadRequest($"input '{name}' has no \"datatype\"");
            var shape = Shape(input, name);
            long? binarySize = Parameter(input, "binary_data_size", name);
            // JSON values are allocated before they are read, and each takes at least two bytes ("0,"); binary ones are
            // counted against the body first.
            long maxValues = binarySize is null ? maxBody / 2 : maxBody / sizeof(float);
            int count = InferenceCore.CheckClips(model, name, datatype, shape, maxValues);
            long values = count * shape.Skip(1).Aggregate(1L, (a, b) => a * b);
            if (binarySize is long size)
            {
                if (input.TryGetProperty("data", out _))
                    throw OipException.BadRequest($"input '{name}' has both \"data\" and binary_data_size");
                if (size != values * sizeof(float))
                    throw OipException.BadRequest($"input '{name}': binary_data_size {size} bytes, but shape "
                        + $"[{string.Join(", ", shape)}] of FP32 is {values * sizeof(float)} bytes");
                if (body.Length - (long)jsonLength != size)
                    throw OipException.BadRequest($"input '{name}': the body holds {body.Length - (long)jsonLength} "
                        + $"bytes after the JSON header, binary_data_size says {size}");
            }
            else
            {
                if (jsonLength != body.Length)
                    throw OipException.BadRequest($"input '{name}' has no binary_data_size, but "
                        + $"{body.Length - jsonLength} bytes follow the JSON header");
                if (!input.TryGetProperty("data", out _))
                    throw OipException.BadRequest($"input '{name}' has no \"data\"");
            }
            // Rented from the server's clip pool: the batcher returns the array once it has copied the clips.
            float[] clips = pool.Rent((int)values);
            try
            {
                if (binarySize is not null)
                {
                    var raw = body.Span[jsonLength..];
                    for (int i = 0; i < values; i++)
                        clips[i] = BinaryPrimitives.ReadSingleLittleEndian(raw.Slice(i * sizeof(float)));
                }
                else
                {
                    int at = 0;
                    ReadData(input.GetProperty("data"), clips, (int)values, ref at, name, 0);
                    if (at != values)
                        throw OipException.BadRequest($"input '{name}': \"data\" holds {at} values, shape "
                            + $"[{string.Join(", ", shape)}] needs {values}");
                }
                InferenceCore.CheckFinite(name, clips.AsSpan(0, (int)values), (int)(values / count));
                var (specs, flags) = RequestedOutputs(model, root);
                return new Decoded(clips, count, id, specs, flags);
            }
            catch
            {
                pool.Return(clips);
                throw;
            }
        }
    }

    /// <summary>The outputs a request names (all when none) and whether each comes back in binary.</summary>
    private static (IReadOnlyList<TensorSpec> Specs, bool[] Binary) RequestedOutputs(ServedModel model,
        JsonElement root)
    {
        var wanted = new List<string>();
        var binary = new List<bool>();
        bool binaryAll = Flag(root, "binary_data_output", "the request");
        if (root.TryGetProperty("outputs", out JsonElement outputs))
        {
            if (outputs.ValueKind != JsonValueKind.Array)
                throw OipException.BadRequest("\"outputs\" is not an array");
            foreach (JsonElement o in outputs.EnumerateArray())
            {
                if (o.ValueKind != JsonValueKind.Object)
                    throw OipException.BadRequest("a requested output is not a JSON object");
                string oname = OptionalString(o, "name")
                    ?? throw OipException.BadRequest("a requested output has no \"name\"");
                wanted.Add(oname);
                binary.Add(binaryAll || Flag(o, "binary_data", $"output '{oname}'"));
            }
        }
        var specs = InferenceCore.Requested(model, wanted);
        bool[] flags = wanted.Count == 0 ? specs.Select(_ => binaryAll).ToArray() : binary.ToArray();
        return (specs, flags);
    }

    private static string OneLine(string s) => SafeText.Escape(s.ReplaceLineEndings(" "));

    private static string? OptionalString(JsonElement o, string property)
    {
        if (!o.TryGetProperty(property, out JsonElement v)) return null;
        if (v.ValueKind != JsonValueKind.String)
            throw OipException.BadRequest($"\"{property}\" is not a string");
        return v.GetString();
    }

    private static List<long> Shape(JsonElement input, string name)
    {
        if (!input.TryGetProperty("shape", out JsonElement s) || s.ValueKind != JsonValueKind.Array)
            throw OipException.BadRequest($"input '{name}' has no \"shape\" array");
        var shape = new List<long>();
        foreach (JsonElement d in s.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long v) || v < 0)
                throw OipException.BadRequest($"input '{name}': \"shape\" holds {d.GetRawText()}, not a size");
            shape.Add(v);
        }
        return shape;
    }

    /// <summary>An integer parameter of a tensor, or null when absent.</summary>
    private static long? Parameter(JsonElement tensor, string key, string name)
    {
        if (!tensor.TryGetProperty("parameters", out JsonElement p) || !p.TryGetProperty(key, out JsonElement v))
            return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out long n) || n < 0)
            throw OipException.BadRequest($"input '{name}': {key} is {v.GetRawText()}, not a byte count");
        return n;
    }

    private static bool Flag(JsonElement o, string key, string what)
    {
        if (!o.TryGetProperty("parameters", out JsonElement p)) return false;
        if (p.ValueKind != JsonValueKind.Object)
            throw OipException.BadRequest($"{what}: \"parameters\" is not an object");
        if (!p.TryGetProperty(key, out JsonElement v)) return false;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw OipException.BadRequest($"{what}: {key} is {v.GetRawText()}, not true or false"),
        };
    }

    /// <summary>Reads "data" in row-major order, flat or nested, into <paramref name="into"/>; more values than it
    /// holds, or anything but numbers, is refused as soon as it is met.</summary>
    private static void ReadData(JsonElement e, float[] into, int limit, ref int at, string name, int depth)
    {
        if (e.ValueKind == JsonValueKind.Array)
        {
            if (depth > 8) throw OipException.BadRequest($"input '{name}': \"data\" is nested too deep");
            foreach (JsonElement c in e.EnumerateArray()) ReadData(c, into, limit, ref at, name, depth + 1);
            return;
        }
        if (e.ValueKind != JsonValueKind.Number || !e.TryGetSingle(out float v))
            throw OipException.BadRequest($"input '{name}': \"data\" holds {Short(e)}, not an FP32 number");
        if (at == limit)
            throw OipException.BadRequest($"input '{name}': \"data\" holds more than the {limit} values its "
                + "shape has");
        into[at++] = v;
    }

    private static string Short(JsonElement e)
    {
        string raw = e.GetRawText();
        return SafeText.Escape(raw.Length > 30 ? raw[..30] + "…" : raw);
    }

    private static async Task WriteResponseAsync(HttpContext http, ServedModel model, Decoded request,
        ClipResult[] results)
    {
        var blobs = new List<byte[]>();
        var header = new ArrayBufferWriterStream();
        using (var w = new Utf8JsonWriter(header, WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("model_name", model.Name);
            w.WriteString("model_version", "1");
            if (request.Id is not null) w.WriteString("id", request.Id);
            w.WriteStartArray("outputs");
            for (int o = 0; o < request.Outputs.Count; o++)
            {
                TensorSpec spec = request.Outputs[o];
                int width = (int)spec.Shape[1];
                w.WriteStartObject();
                w.WriteString("name", spec.Name);
                w.WriteString("datatype", spec.Datatype);
                w.WriteStartArray("shape");
                w.WriteNumberValue(results.Length);
                w.WriteNumberValue(width);
                w.WriteEndArray();
                if (request.Binary[o])
                {
                    byte[] blob = Encode(spec, results);
                    blobs.Add(blob);
                    w.WriteStartObject("parameters");
                    w.WriteNumber("binary_data_size", blob.Length);
                    w.WriteEndObject();
                }
                else
                {
                    w.WriteStartArray("data");
                    foreach (ClipResult r in results)
                    {
                        if (spec.Name == OipTensors.KeyFrames)
                            foreach (int k in r.KeyFrames!) w.WriteNumberValue(k);
                        else
                            foreach (float v in OipTensors.Floats(spec, r)) w.WriteNumberValue(v);
                    }
                    w.WriteEndArray();
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        http.Response.StatusCode = 200;
        if (blobs.Count == 0)
        {
            http.Response.ContentType = "application/json";
            await http.Response.Body.WriteAsync(header.Written, http.RequestAborted).ConfigureAwait(false);
            return;
        }
        http.Response.ContentType = "application/octet-stream";
        http.Response.Headers[HeaderLength] = header.Written.Length.ToString(CultureInfo.InvariantCulture);
        http.Response.ContentLength = header.Written.Length + blobs.Sum(b => (long)b.Length);
        await http.Response.Body.WriteAsync(header.Written, http.RequestAborted).ConfigureAwait(false);
        foreach (byte[] b in blobs) await http.Response.Body.WriteAsync(b, http.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>An output's values as little-endian bytes, row-major [clips, width].</summary>
    internal static byte[] Encode(TensorSpec spec, ClipResult[] results)
    {
        int width = (int)spec.Shape[1];
        var bytes = new byte[results.Length * width * 4];
        int at = 0;
        foreach (ClipResult r in results)
        {
            if (spec.Name == OipTensors.KeyFrames)
                foreach (int k in r.KeyFrames!)
                {
                    BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(at), k);
                    at += 4;
                }
            else
                foreach (float v in OipTensors.Floats(spec, r))
                {
                    BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(at), v);
                    at += 4;
                }
        }
        return bytes;
    }

    private static IResult Json(int status, Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriterStream();
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            w.WriteStartObject();
            write(w);
            w.WriteEndObject();
        }
        return Results.Text(System.Text.Encoding.UTF8.GetString(buffer.Written.Span), "application/json",
            System.Text.Encoding.UTF8, status);
    }

    /// <summary>Runs a metadata handler, turning its <see cref="OipException"/> into the error object.</summary>
    private static IResult Guard(Func<IResult> handler)
    {
        try
        {
            return handler();
        }
        catch (OipException ex)
        {
            return Json(ex.HttpStatus, w => w.WriteString("error", ex.Message));
        }
    }

    public static async Task WriteErrorAsync(HttpContext http, int status, string message)
    {
        if (http.Response.HasStarted) return;
        http.Response.StatusCode = status;
        http.Response.ContentType = "application/json";
        var buffer = new ArrayBufferWriterStream();
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("error", message);
            w.WriteEndObject();
        }
        try
        {
            await http.Response.Body.WriteAsync(buffer.Written, http.RequestAborted).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The client is gone.
        }
    }

    /// <summary>A growable in-memory stream whose bytes are read back without a copy.</summary>
    private sealed class ArrayBufferWriterStream : MemoryStream
    {
        public ReadOnlyMemory<byte> Written => GetBuffer().AsMemory(0, (int)Length);
    }
}
