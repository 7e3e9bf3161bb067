using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Dfer.Cli.Serve.Protocol;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace Dfer.Load;

/// <summary>The wire format of a run's requests.</summary>
internal enum Protocol
{
    RestJson,
    RestBinary,
    Grpc,
}

/// <summary>How one request ended: null <see cref="Error"/> and the outputs, or the error's kind (<c>http 429</c>,
/// <c>grpc ResourceExhausted</c>, <c>timeout</c>, <c>connection</c>, <c>bad answer</c>) and what it said.</summary>
internal readonly record struct Outcome(string? Error, string Detail, List<OutputTensor>? Outputs)
{
    public static Outcome Ok(List<OutputTensor> outputs) => new(null, "", outputs);
    public static Outcome Failed(string kind, string detail) => new(kind, detail, null);
}

/// <summary>
/// The server's two ports as dfer-load reaches them: one HTTP/1.1 client (REST, /metrics) and one gRPC channel,
/// every connection through <see cref="Loopback.ConnectAsync"/>.
/// </summary>
internal sealed class Server : IDisposable
{
    public Uri? Rest { get; }
    public Uri? GrpcAddress { get; }
    public HttpClient? Http { get; }
    public GrpcChannel? Channel { get; }
    public GRPCInferenceService.GRPCInferenceServiceClient? Grpc { get; }
    public TimeSpan Timeout { get; }

    public Server(Uri? rest, Uri? grpc, int connections, TimeSpan timeout)
    {
        Rest = rest;
        GrpcAddress = grpc;
        Timeout = timeout;
        if (rest is not null)
            Http = new HttpClient(Loopback.Handler(connections)) { BaseAddress = rest, Timeout = timeout };
        if (grpc is not null)
        {
            Channel = GrpcChannel.ForAddress(grpc, new GrpcChannelOptions
            {
                HttpHandler = Loopback.Handler(connections),
                MaxReceiveMessageSize = 64 << 20,
                MaxSendMessageSize = null,
                DisposeHttpClient = true,
            });
            Grpc = new GRPCInferenceService.GRPCInferenceServiceClient(Channel);
        }
    }

    /// <summary>The model's metadata, over REST when there is a REST port, else gRPC.</summary>
    public async Task<ModelInfo> ModelAsync(string model, CancellationToken cancel)
    {
        try
        {
            if (Http is not null)
            {
                using HttpResponseMessage response =
                    await Http.GetAsync($"v2/models/{Uri.EscapeDataString(model)}", cancel).ConfigureAwait(false);
                byte[] body = await response.Content.ReadAsByteArrayAsync(cancel).ConfigureAwait(false);
                if (response.StatusCode != HttpStatusCode.OK)
                    throw new LoadException($"GET {Rest}v2/models/{model}: HTTP {(int)response.StatusCode} "
                        + Payloads.Excerpt(body));
                return ModelInfo.FromJson(model, body);
            }
            var metadata = await Grpc!.ModelMetadataAsync(new ModelMetadataRequest { Name = model },
                deadline: DateTime.UtcNow + Timeout, cancellationToken: cancel).ConfigureAwait(false);
            return ModelInfo.FromGrpc(metadata);
        }
        catch (Exception ex) when (ex is HttpRequestException or RpcException or TaskCanceledException)
        {
            throw new LoadException($"model {model}: the server did not answer its metadata: {Describe(ex)}");
        }
    }

    /// <summary><c>GET /metrics</c> parsed, or null without a REST port; throws <see cref="LoadException"/> when the
    /// server has none or it is not the text format.</summary>
    public async Task<List<Sample>?> MetricsAsync(CancellationToken cancel)
    {
        if (Http is null) return null;
        try
        {
            using HttpResponseMessage response = await Http.GetAsync("metrics",
                HttpCompletionOption.ResponseHeadersRead, cancel).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.OK)
                throw new LoadException($"GET {Rest}metrics: HTTP {(int)response.StatusCode}");
            if (response.Content.Headers.ContentLength > PrometheusText.MaxBytes)
                throw new LoadException($"GET {Rest}metrics: over {PrometheusText.MaxBytes} bytes");
            string text = await response.Content.ReadAsStringAsync(cancel).ConfigureAwait(false);
            if (text.Length > PrometheusText.MaxBytes)
                throw new LoadException($"GET {Rest}metrics: over {PrometheusText.MaxBytes} bytes");
            return PrometheusText.Parse(text);
        }
        catch (FormatException ex)
        {
            throw new LoadException($"GET {Rest}metrics: {ex.Message}");
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            throw new LoadException($"GET {Rest}metrics: {Describe(ex)}");
        }
    }

    /// <summary>The HTTP status of a GET (0 when the connection failed).</summary>
    public async Task<(int Status, string Body)> GetAsync(string path, CancellationToken cancel)
    {
        try
        {
            using HttpResponseMessage response = await Http!.GetAsync(path, cancel).ConfigureAwait(false);
            byte[] body = await response.Content.ReadAsByteArrayAsync(cancel).ConfigureAwait(false);
            return ((int)response.StatusCode, Payloads.Excerpt(body));
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return (0, Describe(ex));
        }
    }

    /// <summary>One line for an exception of a call.</summary>
    public static string Describe(Exception ex) => ex switch
    {
        RpcException rpc => $"gRPC {rpc.StatusCode}: {rpc.Status.Detail}",
        TaskCanceledException => "timed out",
        HttpRequestException { InnerException: SocketException s } => $"connection failed ({s.SocketErrorCode})",
        HttpRequestException { InnerException: LoopbackRefusedException l } => l.Message,
        HttpRequestException h => h.InnerException is { } inner ? $"{h.Message} ({inner.Message})" : h.Message,
        _ => ex.Message,
    };

    public void Dispose()
    {
        Http?.Dispose();
        Channel?.Dispose();
    }
}

/// <summary>One request, made ready once (the body built, the data shared) and sent any number of times.</summary>
internal sealed class InferCall
{
    private readonly Server _server;
    private readonly Protocol _protocol;
    private readonly string _model;
    private readonly byte[] _body = [];
    private readonly int _headerLength;
    private readonly ModelInferRequest? _grpc;

    /// <summary>Clips per request.</summary>
    public int Clips { get; }

    /// <summary>The outputs each answer must have.</summary>
    public string[] Expected { get; }

    public InferCall(Server server, Protocol protocol, ModelInfo model, int clips, float[] data)
    {
        _server = server;
        _protocol = protocol;
        _model = model.Name;
        Clips = clips;
        Expected = model.Outputs;
        long[] shape = model.ShapeFor(clips);
        switch (protocol)
        {
            case Protocol.RestJson:
                _body = Payloads.Json(model.InputName, model.InputDatatype, shape, data);
                break;
            case Protocol.RestBinary:
                (_body, _headerLength) = Payloads.Binary(model.InputName, model.InputDatatype, shape,
                    ClipData.LittleEndian(data), binaryOutputs: model.Outputs);
                break;
            case Protocol.Grpc:
                _grpc = Payloads.Grpc(model.Name, model.InputName, model.InputDatatype, shape,
                    ByteString.CopyFrom(ClipData.LittleEndian(data)));
                break;
        }
    }

    /// <summary>Sends the request once and reads the whole answer (timeouts and failures are outcomes, not
    /// exceptions; <paramref name="cancel"/> ending the run still throws).</summary>
    public async Task<Outcome> SendAsync(CancellationToken cancel)
    {
        try
        {
            return _protocol == Protocol.Grpc ? await GrpcAsync(cancel).ConfigureAwait(false)
                : await RestAsync(cancel).ConfigureAwait(false);
        }
        catch (RpcException ex) when (!cancel.IsCancellationRequested)
        {
            return Outcome.Failed($"grpc {ex.StatusCode}", ex.Status.Detail);
        }
        catch (TaskCanceledException) when (!cancel.IsCancellationRequested)
        {
            return Outcome.Failed("timeout", $"no answer in {_server.Timeout.TotalSeconds:0} s");
        }
        catch (HttpRequestException ex) when (!cancel.IsCancellationRequested)
        {
            return Outcome.Failed("connection", Server.Describe(ex));
        }
        catch (Exception ex) when (ex is FormatException or System.Text.Json.JsonException
            or KeyNotFoundException or InvalidOperationException && !cancel.IsCancellationRequested)
        {
            return Outcome.Failed("bad answer", ex.Message);
        }
    }

    private async Task<Outcome> RestAsync(CancellationToken cancel)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"v2/models/{Uri.EscapeDataString(_model)}/infer");
        var content = new ByteArrayContent(_body);
        if (_protocol == Protocol.RestBinary)
        {
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            content.Headers.TryAddWithoutValidation(Payloads.HeaderLength, _headerLength.ToString());
        }
        else content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Content = content;
        using HttpResponseMessage response = await _server.Http!.SendAsync(request, cancel).ConfigureAwait(false);
        byte[] body = await response.Content.ReadAsByteArrayAsync(cancel).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.OK)
            return Outcome.Failed($"http {(int)response.StatusCode}", Payloads.Excerpt(body));
        int? header = response.Headers.TryGetValues(Payloads.HeaderLength, out var values)
            || response.Content.Headers.TryGetValues(Payloads.HeaderLength, out values)
            ? int.TryParse(values.First(), out int h) ? h : throw new FormatException($"bad {Payloads.HeaderLength}")
            : null;
        List<OutputTensor> outputs = header is null && _protocol == Protocol.RestJson
            ? Payloads.ReadJson(body) : Payloads.ReadBinary(body, header);
        return Checked(outputs);
    }

    private async Task<Outcome> GrpcAsync(CancellationToken cancel)
    {
        ModelInferResponse response = await _server.Grpc!.ModelInferAsync(_grpc,
            deadline: DateTime.UtcNow + _server.Timeout, cancellationToken: cancel).ConfigureAwait(false);
        return Checked(Payloads.ReadGrpc(response));
    }

    private Outcome Checked(List<OutputTensor> outputs) =>
        Payloads.Check(outputs, Clips, Expected) is { } problem
            ? Outcome.Failed("bad answer", problem) : Outcome.Ok(outputs);

    /// <summary>Milliseconds since <paramref name="start"/> (a <see cref="Stopwatch"/> timestamp).</summary>
    public static double Since(long start) => Stopwatch.GetElapsedTime(start).TotalMilliseconds;
}
