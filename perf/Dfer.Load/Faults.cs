using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Dfer.Cli.Serve.Protocol;
using Google.Protobuf;
using Grpc.Core;

namespace Dfer.Load;

/// <summary>The knobs of fault mode (perf/Dfer.Load/README.md, "Faults").</summary>
internal sealed record FaultSettings(
    string Model, long OversizeBytes, int GrpcOversizeBytes, int IdleConnections, double IdleSeconds,
    int Vanishing, int Flood, ulong Seed);

/// <summary>One fault's line: what the protocol expects, what the server did, and whether it was still well
/// after.</summary>
internal sealed record FaultResult(string Name, string Expected, string Got, bool Pass, string After)
{
    public string Line => $"{(Pass ? "PASS" : "FAIL")}  {Name}: expected {Expected}; got {Got}; after: {After}";
}

/// <summary>A fault: its name and the action that provokes it and judges the answer.</summary>
internal sealed record Fault(string Name, Func<CancellationToken, Task<(string Expected, string Got, bool Pass)>> Run);

/// <summary>
/// Fault mode: against a running server, each fault of the list (malformed bodies, wrong tensors, unknown model,
/// oversized and half-sent bodies, idle connections, a flood); after each, the server must answer
/// /v2/health/ready with 200 and give the reference clip the logits it gave before the faults, bit for bit.
/// </summary>
internal sealed class FaultRunner(Server server, FaultSettings settings, TextWriter stdout)
{
    private ModelInfo _model = null!;
    private float[] _clip = [];
    private long[] _shape = [];
    private float[] _referenceLogits = [];
    private string _referenceProtocol = "";

    /// <summary>Reads the model, makes the reference infer and checks that the protocols agree on it.</summary>
    public async Task<FaultResult> PrepareAsync(ModelInfo model, CancellationToken cancel)
    {
        _model = model;
        _clip = ClipData.Generate(settings.Seed, model.ElementsPerClip);
        _shape = model.ShapeFor(1);
        var answers = new List<(string Protocol, List<OutputTensor> Outputs)>();
        foreach (Protocol p in new[] { Protocol.RestBinary, Protocol.RestJson, Protocol.Grpc })
        {
            if (p == Protocol.Grpc ? server.Grpc is null : server.Http is null) continue;
            Outcome o = await new InferCall(server, p, model, 1, _clip).SendAsync(cancel).ConfigureAwait(false);
            if (o.Error is not null)
                throw new LoadException($"the reference infer over {Report.Name(p)} failed: {o.Error}: {o.Detail}");
            answers.Add((Report.Name(p), o.Outputs!));
        }
        _referenceProtocol = answers[0].Protocol;
        _referenceLogits = answers[0].Outputs.First(t => t.Name == "logits" || t.Name == model.Outputs[0]).Data;
        var differing = new List<string>();
        foreach (var (protocol, outputs) in answers.Skip(1))
            foreach (OutputTensor reference in answers[0].Outputs)
                if (outputs.FirstOrDefault(t => t.Name == reference.Name) is not { } other
                    || Payloads.Bits(other.Data) != Payloads.Bits(reference.Data))
                    differing.Add($"{reference.Name} over {protocol}");
        string names = string.Join(", ", answers.Select(a => a.Protocol));
        return new FaultResult("protocols agree", $"the same output bits over {names}",
            differing.Count == 0 ? "the same bits" : "different bits: " + string.Join(", ", differing),
            differing.Count == 0, "-");
    }

    /// <summary>Every fault this server's ports allow (REST faults need --url, gRPC ones --grpc).</summary>
    public List<Fault> Faults()
    {
        var list = new List<Fault>();
        byte[] raw = ClipData.LittleEndian(_clip);
        if (server.Http is not null)
        {
            string infer = $"v2/models/{Uri.EscapeDataString(_model.Name)}/infer";
            list.Add(new Fault("malformed JSON", c => RestExpect(c, infer, 400,
                Encoding.UTF8.GetBytes($"{{\"inputs\":[{{\"name\":\"{_model.InputName}\",\"datatype\":\"FP32\",\"sh"),
                null)));
            list.Add(new Fault("JSON that is not an infer request", c => RestExpect(c, infer, 400,
                "[1,2,3]"u8.ToArray(), null)));
            long[] wrong = (long[])_shape.Clone();
            wrong[^1] -= 1;
            float[] wrongData = _clip[..checked((int)wrong.Aggregate(1L, (a, b) => a * b))];
            list.Add(new Fault("wrong shape (REST)", c => RestExpect(c, infer, 400,
                Payloads.Binary(_model.InputName, "FP32", wrong, ClipData.LittleEndian(wrongData)))));
            list.Add(new Fault("wrong rank (REST JSON)", c => RestExpect(c, infer, 400,
                Payloads.Json(_model.InputName, "FP32", _shape[1..], _clip), null)));
            list.Add(new Fault("wrong datatype (REST)", c => RestExpect(c, infer, 400,
                Payloads.Binary(_model.InputName, "INT32", _shape, raw))));
            list.Add(new Fault("data shorter than the shape (REST JSON)", c => RestExpect(c, infer, 400,
                Payloads.Json(_model.InputName, "FP32", _shape, _clip.AsSpan(0, _clip.Length - 1)), null)));
            list.Add(new Fault("binary_data_size not the shape's (REST)", c => RestExpect(c, infer, 400,
                Payloads.Binary(_model.InputName, "FP32", _shape, raw.AsSpan(0, raw.Length - 4)))));
            list.Add(new Fault("body shorter than binary_data_size (REST)", c => RestExpect(c, infer, 400,
                Payloads.Binary(_model.InputName, "FP32", _shape, raw.AsSpan(0, raw.Length - 4), raw.Length))));
            list.Add(new Fault("header length past the body (REST)", c =>
            {
                var (body, _) = Payloads.Binary(_model.InputName, "FP32", _shape, raw);
                return RestExpect(c, infer, 400, body, body.Length + 1);
            }));
            list.Add(new Fault("NaN input (REST)", c => RestExpect(c, infer, 400,
                Payloads.Binary(_model.InputName, "FP32", _shape, ClipData.LittleEndian(WithNaN())))));
            list.Add(new Fault("unknown model (REST)", c => RestExpect(c, "v2/models/no-such-model/infer", 404,
                Payloads.Binary(_model.InputName, "FP32", _shape, raw))));
            list.Add(new Fault($"oversized body, Content-Length {settings.OversizeBytes}",
                c => OversizedAsync(c, false)));
            list.Add(new Fault($"oversized body, chunked, {settings.OversizeBytes} bytes",
                c => OversizedAsync(c, true)));
            list.Add(new Fault($"{settings.Vanishing} clients vanish mid-body", c => VanishAsync(c, raw, true)));
            list.Add(new Fault($"{settings.Vanishing} clients vanish before the answer",
                c => VanishAsync(c, raw, false)));
            list.Add(new Fault($"flood of {settings.Flood} REST requests", c => FloodRestAsync(c, raw)));
        }
        if (server.Grpc is not null)
        {
            list.Add(new Fault("malformed protobuf (gRPC, wire type 7)",
                c => GrpcRawExpect(c, [0x0F, 0xFF, 0xFF, 0xFF])));
            list.Add(new Fault($"oversized gRPC message, {settings.GrpcOversizeBytes} bytes",
                c => GrpcRawExpect(c, new byte[settings.GrpcOversizeBytes], StatusCode.ResourceExhausted)));
            list.Add(new Fault("malformed protobuf (gRPC, truncated field)",
                c => GrpcRawExpect(c, [0x0A, 0xFF, 0x7F, 0x01])));
            long[] wrong = (long[])_shape.Clone();
            wrong[^1] -= 1;
            int wrongCount = checked((int)wrong.Aggregate(1L, (a, b) => a * b));
            list.Add(new Fault("wrong shape (gRPC)", c => GrpcExpect(c, StatusCode.InvalidArgument,
                Request(_model.Name, "FP32", wrong, ByteString.CopyFrom(raw.AsSpan(0, wrongCount * 4))))));
            list.Add(new Fault("wrong datatype (gRPC)", c => GrpcExpect(c, StatusCode.InvalidArgument,
                Request(_model.Name, "INT32", _shape, ByteString.CopyFrom(raw)))));
            list.Add(new Fault("raw contents shorter than the shape (gRPC)", c => GrpcExpect(c,
                StatusCode.InvalidArgument, Request(_model.Name, "FP32", _shape, ByteString.CopyFrom(raw.AsSpan(4))))));
            list.Add(new Fault("NaN input (gRPC)", c => GrpcExpect(c, StatusCode.InvalidArgument,
                Request(_model.Name, "FP32", _shape, ByteString.CopyFrom(ClipData.LittleEndian(WithNaN()))))));
            list.Add(new Fault("unknown model (gRPC)", c => GrpcExpect(c, StatusCode.NotFound,
                Request("no-such-model", "FP32", _shape, ByteString.CopyFrom(raw)))));
            list.Add(new Fault($"{settings.Vanishing} gRPC calls cancelled mid-request", c => GrpcVanishAsync(c, raw)));
            list.Add(new Fault($"flood of {settings.Flood} gRPC requests", c => FloodGrpcAsync(c, raw)));
        }
        list.Add(new Fault($"{settings.IdleConnections} idle TCP connections for {settings.IdleSeconds:0.#} s",
            IdleAsync));
        return list;
    }

    /// <summary>Runs <paramref name="fault"/>, then checks the server is still well; prints the line (only a FAIL
    /// when <paramref name="failuresOnly"/>) and returns it.</summary>
    public async Task<FaultResult> RunAsync(Fault fault, CancellationToken cancel, bool failuresOnly = false)
    {
        (string expected, string got, bool pass) = await fault.Run(cancel).ConfigureAwait(false);
        string? problem = await AfterAsync(cancel).ConfigureAwait(false);
        var result = new FaultResult(fault.Name, expected, got, pass && problem is null,
            problem ?? $"ready, the reference logits unchanged ({_referenceProtocol})");
        if (!failuresOnly || !result.Pass) stdout.WriteLine(result.Line);
        return result;
    }

    /// <summary>Null when the server answers ready and gives the reference clip its reference logits; else what is
    /// wrong.</summary>
    public async Task<string?> AfterAsync(CancellationToken cancel)
    {
        if (server.Http is not null)
        {
            var (status, body) = await server.GetAsync("v2/health/ready", cancel).ConfigureAwait(false);
            if (status != 200) return $"/v2/health/ready answered {(status == 0 ? body : status + " " + body)}";
        }
        else
        {
            try
            {
                var ready = await server.Grpc!.ServerReadyAsync(new ServerReadyRequest(),
                    deadline: DateTime.UtcNow + server.Timeout, cancellationToken: cancel).ConfigureAwait(false);
                if (!ready.Ready) return "ServerReady answered false";
            }
            catch (RpcException ex)
            {
                return $"ServerReady failed: {Server.Describe(ex)}";
            }
        }
        Protocol p = server.Http is not null ? Protocol.RestBinary : Protocol.Grpc;
        Outcome o = await new InferCall(server, p, _model, 1, _clip).SendAsync(cancel).ConfigureAwait(false);
        if (o.Error is not null) return $"the reference infer failed: {o.Error}: {o.Detail}";
        float[] logits = o.Outputs!.First(t => t.Name == "logits" || t.Name == _model.Outputs[0]).Data;
        return Payloads.Bits(logits) == Payloads.Bits(_referenceLogits) ? null
            : $"the reference logits changed: {Payloads.Bits(logits)} instead of {Payloads.Bits(_referenceLogits)}";
    }

    private float[] WithNaN()
    {
        float[] clip = (float[])_clip.Clone();
        clip[17] = float.NaN;
        return clip;
    }

    private ModelInferRequest Request(string model, string datatype, long[] shape, ByteString raw) =>
        Payloads.Grpc(model, _model.InputName, datatype, shape, raw);

    private Task<(string, string, bool)> RestExpect(CancellationToken cancel, string path, int status,
        (byte[] Body, int HeaderLength) binary) => RestExpect(cancel, path, status, binary.Body, binary.HeaderLength);

    /// <summary>POSTs <paramref name="body"/> (binary when <paramref name="headerLength"/> is given, else JSON) and
    /// expects <paramref name="status"/> with an <c>{"error":"..."}</c> body.</summary>
    private async Task<(string, string, bool)> RestExpect(CancellationToken cancel, string path, int status,
        byte[] body, int? headerLength)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue(headerLength is null
            ? "application/json" : "application/octet-stream");
        if (headerLength is { } h)
            request.Content.Headers.TryAddWithoutValidation(Payloads.HeaderLength,
                h.ToString(CultureInfo.InvariantCulture));
        string expected = $"HTTP {status} {{\"error\": ...}}";
        try
        {
            using HttpResponseMessage response = await server.Http!.SendAsync(request, cancel).ConfigureAwait(false);
            byte[] answer = await response.Content.ReadAsByteArrayAsync(cancel).ConfigureAwait(false);
            int got = (int)response.StatusCode;
            bool errorBody = IsErrorBody(answer);
            return (expected, $"HTTP {got} {Payloads.Excerpt(answer)}", got == status && errorBody);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException
            && !cancel.IsCancellationRequested)
        {
            return (expected, Server.Describe(ex), false);
        }
    }

    /// <summary>Whether <paramref name="body"/> is the protocol's error object: <c>{"error": "non-empty"}</c>.
    /// </summary>
    public static bool IsErrorBody(ReadOnlySpan<byte> body)
    {
        try
        {
            var reader = new Utf8JsonReader(body);
            using var doc = JsonDocument.ParseValue(ref reader);
            return doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("error", out JsonElement e)
                && e.ValueKind == JsonValueKind.String && e.GetString()!.Length > 0;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private async Task<(string, string, bool)> GrpcExpect(CancellationToken cancel, StatusCode status,
        ModelInferRequest request)
    {
        try
        {
            await server.Grpc!.ModelInferAsync(request, deadline: DateTime.UtcNow + server.Timeout,
                cancellationToken: cancel).ConfigureAwait(false);
            return (status.ToString(), "OK", false);
        }
        catch (RpcException ex) when (!cancel.IsCancellationRequested)
        {
            return (status.ToString(), $"{ex.StatusCode}: {ex.Status.Detail}", ex.StatusCode == status);
        }
    }

    /// <summary>Bytes that are no ModelInferRequest (or too many of them), sent as one through identity
    /// marshallers.</summary>
    private async Task<(string, string, bool)> GrpcRawExpect(CancellationToken cancel, byte[] garbage,
        StatusCode expected = StatusCode.InvalidArgument)
    {
        var method = new Method<byte[], byte[]>(MethodType.Unary, "inference.GRPCInferenceService", "ModelInfer",
            Marshallers.Create(b => b, b => b), Marshallers.Create(b => b, b => b));
        try
        {
            await server.Channel!.CreateCallInvoker().AsyncUnaryCall(method, null,
                new CallOptions(deadline: DateTime.UtcNow + server.Timeout, cancellationToken: cancel), garbage)
                .ResponseAsync.ConfigureAwait(false);
            return (expected.ToString(), "OK", false);
        }
        catch (RpcException ex) when (!cancel.IsCancellationRequested)
        {
            return (expected.ToString(), $"{ex.StatusCode}: {ex.Status.Detail}", ex.StatusCode == expected);
        }
    }

    /// <summary>Streams more than the server's body limit (zeros), declared up front or chunked; expects 413.</summary>
    private async Task<(string, string, bool)> OversizedAsync(CancellationToken cancel, bool chunked)
    {
        long total = settings.OversizeBytes;
        var headers = new List<(string, string)> { ("Content-Type", "application/octet-stream"),
            (Payloads.HeaderLength, "2") };
        headers.Add(chunked ? ("Transfer-Encoding", "chunked")
            : ("Content-Length", total.ToString(CultureInfo.InvariantCulture)));
        byte[] head = RawHttp.Head(server.Rest!, $"/v2/models/{Uri.EscapeDataString(_model.Name)}/infer", headers);
        long left = total;
        bool ended = false;
        int Fill(Memory<byte> buffer)
        {
            if (ended) return 0;
            Span<byte> span = buffer.Span;
            if (!chunked)
            {
                int n = (int)Math.Min(left, span.Length);
                span[..n].Clear();
                left -= n;
                ended = left == 0;
                return n;
            }
            // One chunk: its size in hex, the bytes, CRLF; the last chunk (0) when all is sent.
            if (left == 0)
            {
                ended = true;
                return Encoding.ASCII.GetBytes("0\r\n\r\n", span);
            }
            int size = (int)Math.Min(left, span.Length - 32);
            int at = Encoding.ASCII.GetBytes(size.ToString("x", CultureInfo.InvariantCulture) + "\r\n", span);
            span.Slice(at, size).Clear();
            at += size;
            "\r\n"u8.CopyTo(span[at..]);
            left -= size;
            return at + 2;
        }
        var (answer, sent) = await RawHttp.PostStreamingAsync(server.Rest!, head, Fill, TimeSpan.FromSeconds(60),
            cancel).ConfigureAwait(false);
        string got = answer.Status == 0 ? answer.Note
            : $"HTTP {answer.Status} {Payloads.Excerpt(answer.Body)}";
        return ($"HTTP 413 {{\"error\": ...}}", $"{got} (after {sent} bytes sent)",
            answer.Status == 413 && IsErrorBody(answer.Body));
    }

    /// <summary>Clients that send the headers of a valid request and then go: half-way through the body (half with a
    /// FIN, half with an RST), or right after the whole body, before the answer.</summary>
    private async Task<(string, string, bool)> VanishAsync(CancellationToken cancel, byte[] raw, bool midBody)
    {
        var (body, headerLength) = Payloads.Binary(_model.InputName, "FP32", _shape, raw,
            binaryOutputs: _model.Outputs);
        byte[] head = RawHttp.Head(server.Rest!, $"/v2/models/{Uri.EscapeDataString(_model.Name)}/infer",
        [
            ("Content-Type", "application/octet-stream"),
            (Payloads.HeaderLength, headerLength.ToString(CultureInfo.InvariantCulture)),
            ("Content-Length", body.Length.ToString(CultureInfo.InvariantCulture)),
        ]);
        int failed = 0;
        var tasks = Enumerable.Range(0, settings.Vanishing).Select(async i =>
        {
            try
            {
                await RawHttp.VanishAsync(server.Rest!, head, body, midBody ? body.Length / 2 : body.Length,
                    reset: i % 2 == 1, cancel).ConfigureAwait(false);
            }
            catch (SocketException)
            {
                Interlocked.Increment(ref failed);
            }
        });
        await Task.WhenAll(tasks).ConfigureAwait(false);
        // Give the server a moment to notice the closed connections (and run what it had queued).
        await Task.Delay(500, cancel).ConfigureAwait(false);
        string got = $"{settings.Vanishing - failed} vanished"
            + (failed > 0 ? $", {failed} could not connect or send" : "");
        return ("the server unharmed", got, failed == 0);
    }

    /// <summary>gRPC calls cancelled by the client 1-20 ms after they start (mid-upload or while queued).</summary>
    private async Task<(string, string, bool)> GrpcVanishAsync(CancellationToken cancel, byte[] raw)
    {
        var request = Request(_model.Name, "FP32", _shape, ByteString.CopyFrom(raw));
        var statuses = new Dictionary<string, int>();
        var tasks = Enumerable.Range(0, settings.Vanishing).Select(async i =>
        {
            using var cut = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            cut.CancelAfter(1 + i % 20);
            string status;
            try
            {
                await server.Grpc!.ModelInferAsync(request, cancellationToken: cut.Token).ConfigureAwait(false);
                status = "OK";
            }
            catch (RpcException ex) when (!cancel.IsCancellationRequested)
            {
                status = ex.StatusCode.ToString();
            }
            lock (statuses) statuses[status] = statuses.GetValueOrDefault(status) + 1;
        });
        await Task.WhenAll(tasks).ConfigureAwait(false);
        await Task.Delay(500, cancel).ConfigureAwait(false);
        bool onlyExpected = statuses.Keys.All(s => s is "OK" or nameof(StatusCode.Cancelled));
        return ("Cancelled (or OK when the answer was faster)", Counts(statuses), onlyExpected);
    }

    private static string Counts(Dictionary<string, int> counts) =>
        string.Join(", ", counts.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{c.Key} x{c.Value}"));

    /// <summary>
    /// --flood requests of the reference clip at once, each on its own connection: the queue must fill (some 429
    /// with an error body), every other answer must be 200 with the reference logits (batching must not change a
    /// clip's bits), nothing else.
    /// </summary>
    private async Task<(string, string, bool)> FloodRestAsync(CancellationToken cancel, byte[] raw)
    {
        var (body, headerLength) = Payloads.Binary(_model.InputName, "FP32", _shape, raw,
            binaryOutputs: _model.Outputs);
        using var http = new HttpClient(Loopback.Handler(settings.Flood))
        {
            BaseAddress = server.Rest,
            Timeout = server.Timeout,
        };
        var statuses = new Dictionary<string, int>();
        int wrongBits = 0, badErrors = 0;
        string reference = Payloads.Bits(_referenceLogits);
        using var start = new SemaphoreSlim(0);
        var tasks = Enumerable.Range(0, settings.Flood).Select(async _ =>
        {
            await start.WaitAsync(cancel).ConfigureAwait(false);
            string status;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post,
                    $"v2/models/{Uri.EscapeDataString(_model.Name)}/infer")
                { Content = new ByteArrayContent(body) };
                request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                request.Content.Headers.TryAddWithoutValidation(Payloads.HeaderLength,
                    headerLength.ToString(CultureInfo.InvariantCulture));
                using HttpResponseMessage response = await http.SendAsync(request, cancel).ConfigureAwait(false);
                byte[] answer = await response.Content.ReadAsByteArrayAsync(cancel).ConfigureAwait(false);
                status = ((int)response.StatusCode).ToString(CultureInfo.InvariantCulture);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    int? h = response.Headers.TryGetValues(Payloads.HeaderLength, out var v)
                        || response.Content.Headers.TryGetValues(Payloads.HeaderLength, out v)
                        ? int.Parse(v.First(), CultureInfo.InvariantCulture) : null;
                    var outputs = Payloads.ReadBinary(answer, h);
                    if (Payloads.Bits(outputs.First(t => t.Name == "logits" || t.Name == _model.Outputs[0]).Data)
                        != reference) Interlocked.Increment(ref wrongBits);
                }
                else if (!IsErrorBody(answer)) Interlocked.Increment(ref badErrors);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or FormatException
                or JsonException && !cancel.IsCancellationRequested)
            {
                status = ex is FormatException or JsonException ? "bad answer" : Server.Describe(ex);
            }
            lock (statuses) statuses[status] = statuses.GetValueOrDefault(status) + 1;
        }).ToList();
        start.Release(settings.Flood);
        await Task.WhenAll(tasks).ConfigureAwait(false);
        bool pass = statuses.GetValueOrDefault("429") > 0 && statuses.Keys.All(s => s is "200" or "429")
            && wrongBits == 0 && badErrors == 0;
        string got = Counts(statuses) + (wrongBits > 0 ? $"; {wrongBits} answers with other logits bits" : "")
            + (badErrors > 0 ? $"; {badErrors} error answers without {{\"error\"}}" : "")
            + (statuses.GetValueOrDefault("429") == 0 ? "; the queue never filled (lower the server's --max-queue "
                + "or raise --flood)" : "");
        return ("some 429, the rest 200 with the reference logits", got, pass);
    }

    /// <summary>The gRPC flood: RESOURCE_EXHAUSTED for some, OK with the reference logits for the rest.</summary>
    private async Task<(string, string, bool)> FloodGrpcAsync(CancellationToken cancel, byte[] raw)
    {
        var request = Request(_model.Name, "FP32", _shape, ByteString.CopyFrom(raw));
        var statuses = new Dictionary<string, int>();
        int wrongBits = 0;
        string reference = Payloads.Bits(_referenceLogits);
        using var start = new SemaphoreSlim(0);
        var tasks = Enumerable.Range(0, settings.Flood).Select(async _ =>
        {
            await start.WaitAsync(cancel).ConfigureAwait(false);
            string status;
            try
            {
                var response = await server.Grpc!.ModelInferAsync(request, deadline: DateTime.UtcNow + server.Timeout,
                    cancellationToken: cancel).ConfigureAwait(false);
                status = "OK";
                var logits = Payloads.ReadGrpc(response).First(t => t.Name == "logits" || t.Name == _model.Outputs[0]);
                if (Payloads.Bits(logits.Data) != reference) Interlocked.Increment(ref wrongBits);
            }
            catch (RpcException ex) when (!cancel.IsCancellationRequested)
            {
                status = ex.StatusCode.ToString();
            }
            lock (statuses) statuses[status] = statuses.GetValueOrDefault(status) + 1;
        }).ToList();
        start.Release(settings.Flood);
        await Task.WhenAll(tasks).ConfigureAwait(false);
        const string full = nameof(StatusCode.ResourceExhausted);
        bool pass = statuses.GetValueOrDefault(full) > 0 && statuses.Keys.All(s => s is "OK" or full) && wrongBits == 0;
        string got = Counts(statuses) + (wrongBits > 0 ? $"; {wrongBits} answers with other logits bits" : "")
            + (statuses.GetValueOrDefault(full) == 0 ? "; the queue never filled (lower the server's --max-queue or "
                + "raise --flood)" : "");
        return ("some ResourceExhausted, the rest OK with the reference logits", got, pass);
    }

    /// <summary>
    /// Opens --idle-connections TCP connections to the REST port (else the gRPC port) that send nothing, holds them
    /// --idle-seconds, and meanwhile asks for readiness and the reference infer on a fresh connection.
    /// </summary>
    private async Task<(string, string, bool)> IdleAsync(CancellationToken cancel)
    {
        Uri target = server.Rest ?? server.GrpcAddress!;
        var sockets = new List<Socket>();
        int refused = 0;
        string? during;
        try
        {
            for (int i = 0; i < settings.IdleConnections; i++)
            {
                try
                {
                    sockets.Add(await Loopback.ConnectAsync(target.Host, target.Port, cancel).ConfigureAwait(false));
                }
                catch (SocketException)
                {
                    refused++;
                }
            }
            var clock = Stopwatch.StartNew();
            // A fresh client: its connection is made while the idle ones are held.
            using (var fresh = new Server(server.Rest, server.GrpcAddress, 4, server.Timeout))
            {
                var check = new FaultRunner(fresh, settings, stdout)
                {
                    _model = _model,
                    _clip = _clip,
                    _shape = _shape,
                    _referenceLogits = _referenceLogits,
                };
                during = await check.AfterAsync(cancel).ConfigureAwait(false);
            }
            TimeSpan rest = TimeSpan.FromSeconds(settings.IdleSeconds) - clock.Elapsed;
            if (rest > TimeSpan.Zero) await Task.Delay(rest, cancel).ConfigureAwait(false);
        }
        finally
        {
            foreach (Socket s in sockets) s.Dispose();
        }
        string got = $"{sockets.Count} held" + (refused > 0 ? $", {refused} refused" : "") + "; meanwhile "
            + (during ?? "ready and the reference logits");
        return ($"ready and the reference logits while they are open", got, during is null);
    }
}
