using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using Dfer.Cli.Serve.Protocol;
using Dfer.Runtime;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Dfer.Cli.Serve;

/// <summary>
/// The service's methods, bound with request marshallers that answer a message that is not valid protobuf with
/// INVALID_ARGUMENT: the generated base class's marshallers let the parser's exception escape before any handler runs,
/// which gRPC reports as UNKNOWN. gRPC for .NET finds <see cref="BindService"/> through the attribute and binds each
/// method to the override of the abstract method declared here, by name.
/// </summary>
[BindServiceMethod(typeof(GrpcInferenceServiceBase), nameof(BindService))]
internal abstract class GrpcInferenceServiceBase
{
    private const string ServiceName = "inference.GRPCInferenceService";

    public abstract Task<ServerLiveResponse> ServerLive(ServerLiveRequest request, ServerCallContext context);
    public abstract Task<ServerReadyResponse> ServerReady(ServerReadyRequest request, ServerCallContext context);
    public abstract Task<ModelReadyResponse> ModelReady(ModelReadyRequest request, ServerCallContext context);
    public abstract Task<ServerMetadataResponse> ServerMetadata(ServerMetadataRequest request,
        ServerCallContext context);
    public abstract Task<ModelMetadataResponse> ModelMetadata(ModelMetadataRequest request, ServerCallContext context);
    public abstract Task<ModelInferResponse> ModelInfer(ModelInferRequest request, ServerCallContext context);

    public static void BindService(ServiceBinderBase binder, GrpcInferenceServiceBase? service)
    {
        binder.AddMethod(Unary<ServerLiveRequest, ServerLiveResponse>("ServerLive", ServerLiveRequest.Parser),
            (UnaryServerMethod<ServerLiveRequest, ServerLiveResponse>?)null);
        binder.AddMethod(Unary<ServerReadyRequest, ServerReadyResponse>("ServerReady", ServerReadyRequest.Parser),
            (UnaryServerMethod<ServerReadyRequest, ServerReadyResponse>?)null);
        binder.AddMethod(Unary<ModelReadyRequest, ModelReadyResponse>("ModelReady", ModelReadyRequest.Parser),
            (UnaryServerMethod<ModelReadyRequest, ModelReadyResponse>?)null);
        binder.AddMethod(Unary<ServerMetadataRequest, ServerMetadataResponse>("ServerMetadata",
            ServerMetadataRequest.Parser), (UnaryServerMethod<ServerMetadataRequest, ServerMetadataResponse>?)null);
        binder.AddMethod(Unary<ModelMetadataRequest, ModelMetadataResponse>("ModelMetadata",
            ModelMetadataRequest.Parser), (UnaryServerMethod<ModelMetadataRequest, ModelMetadataResponse>?)null);
        binder.AddMethod(Unary<ModelInferRequest, ModelInferResponse>("ModelInfer", ModelInferRequest.Parser),
            (UnaryServerMethod<ModelInferRequest, ModelInferResponse>?)null);
    }

    private static Method<TRequest, TResponse> Unary<TRequest, TResponse>(string name, MessageParser<TRequest> parser)
        where TRequest : IMessage<TRequest>
        where TResponse : IMessage<TResponse> =>
        new(MethodType.Unary, ServiceName, name,
            Marshallers.Create<TRequest>((m, context) => context.Complete(m.ToByteArray()), context =>
            {
                try
                {
                    // Parsed from the transport's buffers where they lie: no copy of the whole message first.
                    return parser.ParseFrom(context.PayloadAsReadOnlySequence());
                }
                catch (InvalidProtocolBufferException ex)
                {
                    throw new RpcException(new Status(StatusCode.InvalidArgument,
                        $"the {name} request is not a valid protobuf message: {ex.Message}"));
                }
            }),
            Marshallers.Create<TResponse>(m => m.ToByteArray(),
                _ => throw new NotSupportedException("the server does not read responses")));
}

/// <summary>
/// The Open Inference Protocol over gRPC (docs/serving.md, "gRPC"): the service of grpc_predict_v2.proto on
/// <see cref="InferenceCore"/>. Inputs come as <c>fp32_contents</c> or as <c>raw_input_contents</c> (little-endian
/// bytes); outputs go back as <c>raw_output_contents</c> when the request sent raw inputs, else as typed contents.
/// Errors are gRPC statuses (<see cref="OipException.GrpcStatus"/>).
/// </summary>
internal sealed class GrpcInferenceApi(InferenceCore core) : GrpcInferenceServiceBase
{
    public override Task<ServerLiveResponse> ServerLive(ServerLiveRequest request, ServerCallContext context) =>
        Task.FromResult(new ServerLiveResponse { Live = true });

    public override Task<ServerReadyResponse> ServerReady(ServerReadyRequest request, ServerCallContext context) =>
        Task.FromResult(new ServerReadyResponse { Ready = core.Ready });

    public override Task<ModelReadyResponse> ModelReady(ModelReadyRequest request, ServerCallContext context) =>
        Guard(() => new ModelReadyResponse
        {
            Ready = core.Find(request.Name, request.Version).Ready && !core.Stopping,
        });

    public override Task<ServerMetadataResponse> ServerMetadata(ServerMetadataRequest request,
        ServerCallContext context)
    {
        var response = new ServerMetadataResponse { Name = InferenceCore.ServerName, Version = InferenceCore.Version };
        response.Extensions.AddRange(InferenceCore.Extensions);
        return Task.FromResult(response);
    }

    public override Task<ModelMetadataResponse> ModelMetadata(ModelMetadataRequest request,
        ServerCallContext context) => Guard(() =>
        {
            ServedModel model = core.Find(request.Name, request.Version);
            var response = new ModelMetadataResponse { Name = model.Name, Platform = InferenceCore.ServerName };
            response.Versions.Add("1");
            response.Inputs.AddRange(model.Inputs.Select(Tensor));
            response.Outputs.AddRange(model.Outputs.Select(Tensor));
            response.Properties.Add(new Dictionary<string, string>(model.Properties));
            return response;
        });

    private static ModelMetadataResponse.Types.TensorMetadata Tensor(TensorSpec spec)
    {
        var t = new ModelMetadataResponse.Types.TensorMetadata { Name = spec.Name, Datatype = spec.Datatype };
        t.Shape.AddRange(spec.Shape);
        return t;
    }

    public override async Task<ModelInferResponse> ModelInfer(ModelInferRequest request, ServerCallContext context)
    {
        long started = Stopwatch.GetTimestamp();
        string counted = core.Settings.Models.Any(m => m.Name == request.ModelName) ? request.ModelName : "unknown";
        try
        {
            ServedModel model = core.ForInference(request.ModelName, request.ModelVersion);
            using IDisposable slot = core.Admit(model);
            var outputs = InferenceCore.Requested(model, request.Outputs.Select(o => o.Name).ToList());
            var (clips, count, raw) = Decode(model, request, core.Settings.MaxBodyBytes, core.ClipPool);
            ClipResult[] results = await core.InferAsync(model, clips, count, context.CancellationToken, pooled: true,
                arrived: started).ConfigureAwait(false);
            var response = new ModelInferResponse { ModelName = model.Name, ModelVersion = "1", Id = request.Id };
            foreach (TensorSpec spec in outputs)
            {
                var tensor = new ModelInferResponse.Types.InferOutputTensor
                {
                    Name = spec.Name,
                    Datatype = spec.Datatype,
                };
                tensor.Shape.Add(results.Length);
                tensor.Shape.Add(spec.Shape[1]);
                if (raw) response.RawOutputContents.Add(ByteString.CopyFrom(RestApi.Encode(spec, results)));
                else
                {
                    tensor.Contents = new InferTensorContents();
                    foreach (ClipResult r in results)
                    {
                        if (spec.Name == OipTensors.KeyFrames) tensor.Contents.IntContents.AddRange(r.KeyFrames!);
                        else tensor.Contents.Fp32Contents.AddRange(OipTensors.Floats(spec, r));
                    }
                }
                response.Outputs.Add(tensor);
            }
            core.Count(counted, "grpc", started, null);
            return response;
        }
        catch (OipException ex)
        {
            core.Count(counted, "grpc", started, ex.GrpcStatus.ToString());
            throw new RpcException(new Status(ex.GrpcStatus, ex.Message));
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            bool deadline = context.Deadline <= DateTime.UtcNow;
            core.Count(counted, "grpc", started, deadline ? "DeadlineExceeded" : "Cancelled");
            throw new RpcException(deadline
                ? new Status(StatusCode.DeadlineExceeded, $"model '{request.ModelName}': no result before the deadline")
                : new Status(StatusCode.Cancelled, "the call was cancelled"));
        }
    }

    /// <summary>The clips of a request, checked like REST's; whether they came as raw bytes.</summary>
    private static (float[] Clips, int Count, bool Raw) Decode(ServedModel model, ModelInferRequest request,
        long maxBody, ArrayPool<float> pool)
    {
        if (request.Inputs.Count != 1)
            throw OipException.BadRequest($"the request has {request.Inputs.Count} inputs; model '{model.Name}' takes "
                + $"one, '{model.Inputs[0].Name}'");
        var input = request.Inputs[0];
        bool raw = request.RawInputContents.Count > 0;
        if (raw && request.RawInputContents.Count != 1)
            throw OipException.BadRequest(
                $"raw_input_contents has {request.RawInputContents.Count} entries for 1 input");
        if (raw && input.Contents is not null)
            throw OipException.BadRequest($"input '{input.Name}' has both contents and raw_input_contents");
        // Nothing is allocated before the values present are counted against the shape, so the bound is the body's.
        int count = InferenceCore.CheckClips(model, input.Name, input.Datatype, input.Shape, maxBody / sizeof(float));
        long values = count * input.Shape.Skip(1).Aggregate(1L, (a, b) => a * b);
        if (raw && request.RawInputContents[0].Length != values * sizeof(float))
            throw OipException.BadRequest($"input '{input.Name}': raw_input_contents holds "
                + $"{request.RawInputContents[0].Length} bytes, shape [{string.Join(", ", input.Shape)}] of FP32 is "
                + $"{values * sizeof(float)}");
        if (!raw && (input.Contents is null || input.Contents.Fp32Contents.Count != values))
            throw OipException.BadRequest($"input '{input.Name}': fp32_contents holds "
                + $"{input.Contents?.Fp32Contents.Count ?? 0} values, shape [{string.Join(", ", input.Shape)}] needs "
                + $"{values}");
        // Rented: the batcher returns the array once it has copied the clips (InferAsync's pooled).
        float[] clips = pool.Rent((int)values);
        try
        {
            if (raw)
            {
                var span = request.RawInputContents[0].Span;
                for (int i = 0; i < values; i++)
                    clips[i] = BinaryPrimitives.ReadSingleLittleEndian(span.Slice(i * sizeof(float)));
            }
            else input.Contents!.Fp32Contents.CopyTo(clips, 0);
            InferenceCore.CheckFinite(input.Name, clips.AsSpan(0, (int)values), (int)(values / count));
        }
        catch
        {
            pool.Return(clips);
            throw;
        }
        return (clips, count, raw);
    }

    private static Task<T> Guard<T>(Func<T> handler)
    {
        try
        {
            return Task.FromResult(handler());
        }
        catch (OipException ex)
        {
            throw new RpcException(new Status(ex.GrpcStatus, ex.Message));
        }
    }
}

/// <summary>
/// Admission of gRPC inference calls before their message is read (docs/serving.md, "What bounds memory"). gRPC for
/// .NET buffers a request message whole before the service method runs, so the per-model admission inside
/// <see cref="GrpcInferenceApi.ModelInfer"/> would come after a flood's messages were all in memory. This middleware
/// runs first: beyond <see cref="InferenceCore.MessageLimit"/> calls at once it answers RESOURCE_EXHAUSTED as a
/// trailers-only response (the gRPC status in the response headers, no body) without reading the message, and HTTP/2
/// tells the client to stop sending it.
/// </summary>
/// <remarks>Admitted messages are read at once, not in turns: streams that waited unread would hold their HTTP/2
/// connection's flow-control window, and the admitted streams sharing the connection could then receive nothing.
/// </remarks>
internal static class GrpcAdmission
{
    public const string InferPath = "/inference.GRPCInferenceService/ModelInfer";

    /// <summary>The model label of the calls refused here, in the metrics: their message, which names the model, is
    /// never read.</summary>
    public const string UnreadModel = "-";

    public static void Use(IApplicationBuilder app, InferenceCore core) => app.Use(async (http, next) =>
    {
        if (!IsInferCall(http.Request))
        {
            await next(http).ConfigureAwait(false);
            return;
        }
        if (!core.TryAdmitMessage())
        {
            Refuse(http.Response, StatusCode.ResourceExhausted, $"the server holds {core.MessageLimit} inference "
                + "calls, as many as its queues admit; retry later");
            core.Count(UnreadModel, "grpc", Stopwatch.GetTimestamp(), nameof(StatusCode.ResourceExhausted));
            return;
        }
        try
        {
            await next(http).ConfigureAwait(false);
        }
        finally
        {
            core.ReleaseMessage();
        }
    });

    private static bool IsInferCall(HttpRequest request) =>
        HttpMethods.IsPost(request.Method) && request.Path.Equals(InferPath, StringComparison.Ordinal)
        && request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true;

    /// <summary>A trailers-only gRPC response: HTTP 200, the status in the headers, no message.</summary>
    private static void Refuse(HttpResponse response, StatusCode status, string message)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "application/grpc";
        response.Headers["grpc-status"] = ((int)status).ToString(CultureInfo.InvariantCulture);
        // The protocol percent-encodes grpc-message; this one is printable ASCII without '%', which stands as is.
        response.Headers["grpc-message"] = message;
    }
}
