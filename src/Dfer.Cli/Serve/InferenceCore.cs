using System.Buffers;
using System.Diagnostics;
using System.Reflection;
using Dfer.Cli.Commands;
using Dfer.Runtime;
using Grpc.Core;

namespace Dfer.Cli.Serve;

/// <summary>
/// A request the protocol refuses: the message (one line, naming the input and the problem), the HTTP status the REST
/// API answers with and the gRPC status code of the same error (docs/serving.md, "Errors").
/// </summary>
internal sealed class OipException(int httpStatus, StatusCode grpcStatus, string message) : Exception(message)
{
    public int HttpStatus { get; } = httpStatus;
    public StatusCode GrpcStatus { get; } = grpcStatus;

    public static OipException BadRequest(string message) => new(400, StatusCode.InvalidArgument, message);
    public static OipException NotFound(string message) => new(404, StatusCode.NotFound, message);
    public static OipException TooLarge(string message) => new(413, StatusCode.ResourceExhausted, message);
    public static OipException QueueFull(string message) => new(429, StatusCode.ResourceExhausted, message);
    public static OipException Unavailable(string message) => new(503, StatusCode.Unavailable, message);
    public static OipException Deadline(string message) => new(504, StatusCode.DeadlineExceeded, message);
    public static OipException Internal(string message) => new(500, StatusCode.Internal, message);
}

/// <summary>The protocol's names of Dfer's output tensors.</summary>
internal static class OipTensors
{
    public const string Logits = "logits";
    public const string Probabilities = "probabilities";
    public const string KeyFrames = "key_frames";

    /// <summary>The FP32 values of output <paramref name="spec"/> (logits or probabilities) for one clip.</summary>
    public static float[] Floats(TensorSpec spec, ClipResult r) => spec.Name == Logits ? r.Logits : r.Probabilities;
}

/// <summary>
/// What both transports serve (docs/serving.md): health, metadata and inference over the loaded models, the same
/// checks and the same errors whether a request came over REST or gRPC. The transports only decode and encode.
/// </summary>
internal sealed class InferenceCore
{
    public const string ServerName = "dfer";

    /// <summary>The protocol extensions this server speaks: binary tensors over HTTP, and Dfer's video endpoint.
    /// </summary>
    public static readonly string[] Extensions = ["binary_tensor_data", "dfer_video"];

    private readonly Dictionary<string, ServedModel> _models = new(StringComparer.Ordinal);
    private volatile bool _stopping;

    public InferenceCore(ServeSettings settings, ServerMetrics metrics)
    {
        Settings = settings;
        Metrics = metrics;
        int models = Math.Max(1, settings.Models.Count);
        _messages = new Places(Math.Max(1, settings.MaxQueue + settings.MaxBatch) * models);
        // Steady load keeps about two batches' buffers busy per model (one batch assembling, one being copied): the
        // pools keep that many arrays, of PooledBytesPerArray each on average. A burst beyond it allocates, and its
        // arrays are garbage afterwards (collected by DferServer's trimming), so a flood does not leave the pools
        // holding a queue's worth of bodies.
        int kept = 2 * Math.Max(1, settings.MaxBatch) * models;
        ClipPool = new BoundedArrayPool<float>(kept, kept * PooledBytesPerArray);
        BodyPool = new BoundedArrayPool<byte>(kept, kept * PooledBytesPerArray);
    }

    /// <summary>What the pools keep per array on average: room for a few 16-frame 112×112 clips (2.3 MiB each).
    /// </summary>
    public const long PooledBytesPerArray = 8L << 20;

    private readonly Places _messages;

    /// <summary>How many gRPC inference messages the server reads at once: every model's --max-queue + --max-batch.
    /// </summary>
    public int MessageLimit => _messages.Limit;

    /// <summary>
    /// Admits one gRPC inference call before its message is read (<see cref="GrpcAdmission"/>), or refuses it: gRPC
    /// reads a message whole before the service sees which model it names, so this server-wide bound on messages held
    /// at once stands in front of the per-model <see cref="Admit"/>. Call <see cref="ReleaseMessage"/> when the call
    /// is answered.
    /// </summary>
    public bool TryAdmitMessage() => _messages.TryTake();

    public void ReleaseMessage() => _messages.Give();

    /// <summary>The clips of tensor requests: rented while a request is decoded, returned by the batcher once it has
    /// copied them into a batch.</summary>
    public BoundedArrayPool<float> ClipPool { get; }

    /// <summary>Request bodies of known length, returned once decoded.</summary>
    public BoundedArrayPool<byte> BodyPool { get; }

    public ServeSettings Settings { get; }
    public ServerMetrics Metrics { get; }

    /// <summary>Dfer's version without the source revision, read once.</summary>
    public static string Version { get; } = typeof(InferenceCore).Assembly
        .GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0";

    /// <summary>The models in the order --model named them (those loaded so far).</summary>
    public IReadOnlyList<ServedModel> Models
    {
        get { lock (_models) return _models.Values.ToList(); }
    }

    public void Add(ServedModel model)
    {
        lock (_models) _models[model.Name] = model;
    }

    /// <summary>Set once shutdown starts: the server reports not ready (its requests in flight are still answered).
    /// </summary>
    public bool Stopping
    {
        get => _stopping;
        set
        {
            _stopping = value;
            if (value) foreach (var m in Models) m.Ready = false;
        }
    }

    /// <summary>Every model named on the command line is loaded and warm, and shutdown has not begun.</summary>
    public bool Ready => !_stopping && Models.Count == Settings.Models.Count && Models.All(m => m.Ready);

    /// <summary>The model <paramref name="name"/>; <paramref name="version"/> must be empty or "1" (one version per
    /// model).</summary>
    public ServedModel Find(string name, string? version)
    {
        ServedModel? model;
        lock (_models) _models.TryGetValue(name, out model);
        if (model is null)
        {
            if (Settings.Models.Any(m => m.Name == name))
                throw OipException.Unavailable($"model '{name}' is still loading");
            throw OipException.NotFound($"unknown model '{name}'; this server serves "
                + string.Join(", ", Settings.Models.Select(m => m.Name)));
        }
        if (!string.IsNullOrEmpty(version) && version != "1")
            throw OipException.NotFound($"model '{name}' has no version '{version}' (its only version is 1)");
        return model;
    }

    /// <summary>The model for an inference request: it exists, is ready and takes tensors.</summary>
    public ServedModel ForInference(string name, string? version)
    {
        ServedModel model = Find(name, version);
        // A request that reached the server while it shuts down is still served: Kestrel takes no new connections and
        // closes the idle ones, and the batcher stays open until the requests in flight are answered.
        if (!model.Ready && !_stopping) throw OipException.Unavailable($"model '{name}' is not ready yet");
        if (model.Batcher is null)
            throw OipException.BadRequest($"model '{name}' scores whole videos: POST the video to "
                + $"/v2/models/{name}/video (docs/serving.md)");
        return model;
    }

    /// <summary>
    /// Admits one inference request to <paramref name="model"/> before its body is read, or refuses it at once (429 /
    /// RESOURCE_EXHAUSTED): at most --max-queue requests waiting plus --max-batch running may hold their clips, so a
    /// flood costs the server what that many bodies take, not one body per request sent. Dispose the slot when the
    /// answer is written.
    /// </summary>
    public IDisposable Admit(ServedModel model)
    {
        if (!model.Admitted.TryTake())
            throw OipException.QueueFull($"{model.Name}: the queue is full ({Settings.MaxQueue} requests waiting); "
                + "retry later");
        return new Slot(model);
    }

    private sealed class Slot(ServedModel model) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0) model.Admitted.Give();
        }
    }

    /// <summary>
    /// Checks an input tensor's name, data type and shape against the model before any value is read, and returns the
    /// number of clips: [n, clip shape...] with n ≥ 1 and n·clip values within what a body of
    /// <paramref name="maxValues"/> values can hold.
    /// </summary>
    public static int CheckClips(ServedModel model, string name, string datatype, IReadOnlyList<long> shape,
        long maxValues)
    {
        TensorSpec spec = model.Inputs[0];
        if (name != spec.Name)
            throw OipException.BadRequest($"input '{name}': model '{model.Name}' has one input, '{spec.Name}'");
        if (datatype != spec.Datatype)
            throw OipException.BadRequest($"input '{name}': datatype {Describe(datatype)}, expected {spec.Datatype}");
        string expected = "[n, " + string.Join(", ", spec.Shape.Skip(1)) + "]";
        if (shape.Count != spec.Shape.Length)
            throw OipException.BadRequest(
                $"input '{name}': shape [{string.Join(", ", shape)}] has {shape.Count} dimensions, expected "
                + expected);
        for (int d = 1; d < shape.Count; d++)
            if (shape[d] != spec.Shape[d])
                throw OipException.BadRequest(
                    $"input '{name}': shape [{string.Join(", ", shape)}], expected {expected}");
        long clip = spec.Shape.Skip(1).Aggregate(1L, (a, b) => a * b);
        if (shape[0] < 1)
            throw OipException.BadRequest($"input '{name}': shape [{string.Join(", ", shape)}] holds no clip");
        if (shape[0] > maxValues / clip || shape[0] > Limits.MaxBatch)
            throw OipException.TooLarge($"input '{name}': shape [{string.Join(", ", shape)}] claims {shape[0]} clips, "
                + $"more than the request can hold");
        return (int)shape[0];
    }

    /// <summary>Refuses NaN and ±Inf in the clips, naming the clip and value.</summary>
    public static void CheckFinite(string name, ReadOnlySpan<float> clips, int clipLength)
    {
        if (Session.FirstNonFinite(clips) is long at)
            throw OipException.BadRequest($"input '{name}': clip {at / clipLength} holds "
                + $"{(float.IsNaN(clips[(int)at]) ? "NaN" : "Inf")} (value {at % clipLength} of the clip)");
    }

    /// <summary>The requested outputs (all, in the model's order, when none is named); an unknown name is refused.
    /// </summary>
    public static IReadOnlyList<TensorSpec> Requested(ServedModel model, IReadOnlyList<string> names)
    {
        if (names.Count == 0) return model.Outputs;
        var list = new List<TensorSpec>();
        foreach (string n in names)
        {
            TensorSpec? spec = model.Outputs.FirstOrDefault(o => o.Name == n);
            if (spec is null)
                throw OipException.BadRequest($"output '{n}': model '{model.Name}' has outputs "
                    + string.Join(", ", model.Outputs.Select(o => o.Name)));
            if (list.Any(o => o.Name == n)) throw OipException.BadRequest($"output '{n}' is requested twice");
            list.Add(spec);
        }
        return list;
    }

    /// <summary>Runs <paramref name="count"/> checked clips through the model's batcher within the request's deadline
    /// (the server's --timeout-ms, or the caller's shorter one in <paramref name="cancel"/>).</summary>
    /// <param name="pooled">The clips were rented from <see cref="ClipPool"/>; the batcher returns them (see
    /// <see cref="DynamicBatcher.ScoreAsync"/>).</param>
    /// <param name="arrived">When the request arrived (<see cref="Stopwatch.GetTimestamp"/>): the deadline counts
    /// from there, so time spent reading and decoding the body counts too.</param>
    public async Task<ClipResult[]> InferAsync(ServedModel model, float[] clips, int count,
        CancellationToken cancel, bool pooled = false, long? arrived = null)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        TimeSpan spent = arrived is long t ? Stopwatch.GetElapsedTime(t) : TimeSpan.Zero;
        deadline.CancelAfter(TimeSpan.FromMilliseconds(Math.Max(0, Settings.TimeoutMs - spent.TotalMilliseconds)));
        try
        {
            ClipResult[] results = await model.Batcher!.ScoreAsync(clips, count, deadline.Token,
                pooled ? ClipPool : null)
                .ConfigureAwait(false);
            foreach (var (r, i) in results.Select((r, i) => (r, i)))
                if (r.NonFiniteProblem($"clip {i}") is string problem) throw OipException.Internal(problem);
            return results;
        }
        catch (QueueFullException ex)
        {
            throw OipException.QueueFull(ex.Message);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancel.IsCancellationRequested)
        {
            throw OipException.Deadline($"model '{model.Name}': no result within {Settings.TimeoutMs} ms");
        }
        catch (ObjectDisposedException)
        {
            throw OipException.Unavailable("the server is shutting down");
        }
        catch (DferException ex)
        {
            throw OipException.BadRequest(ex.Message);
        }
    }

    /// <summary>Counts a request and its outcome in the metrics: <paramref name="status"/> is "ok" or the error's
    /// HTTP status / gRPC code.</summary>
    public void Count(string model, string protocol, long started, string? error)
    {
        Metrics.Request(model, protocol);
        if (error is null) Metrics.Latency(model, protocol, Stopwatch.GetElapsedTime(started).TotalSeconds);
        else Metrics.Error(model, protocol, error);
    }

    /// <summary>A data type name as a message shows it: quoted, control characters escaped, at most 40 characters.
    /// </summary>
    public static string Describe(string datatype) =>
        "'" + SafeText.Escape(datatype.Length > 40 ? datatype[..40] + "…" : datatype) + "'";
}
