using Dfer.Backends;
using Dfer.Cli.Commands;
using Dfer.Cli.Scoring;
using Dfer.Models;
using Dfer.Pipelines;
using Dfer.Runtime;

namespace Dfer.Cli.Serve;

/// <summary>A tensor of the protocol's model metadata: name, data type ("FP32", "INT32") and shape (-1 for the batch).
/// </summary>
internal sealed record TensorSpec(string Name, string Datatype, long[] Shape);

/// <summary>
/// One model the server holds (docs/serving.md, "Models"): loaded once at start, compiled and warmed up before it says
/// ready; a DFER model (m3dfel, ifdd, rdfer) runs its clips through its <see cref="DynamicBatcher"/>, the expression
/// model (face-api's pretrained nets) scores whole videos only, on the video endpoint.
/// </summary>
internal sealed class ServedModel : IAsyncDisposable
{
    public const string ExpressionName = ExpressionInferCommand.ModelName;

    /// <summary>The name of the input tensor of a DFER model.</summary>
    public const string ClipsInput = "clips";

    /// <summary>Every model a server can hold.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. ModelRegistry.Names, ExpressionName];

    private volatile bool _ready;

    private ServedModel(string name, IReadOnlyList<string> classes, LoadedModel? loaded, IBackend? backend,
        ExpressionPipeline? expression, DynamicBatcher? batcher, TensorSpec[] inputs, TensorSpec[] outputs)
    {
        Name = name;
        Classes = classes;
        Loaded = loaded;
        _expressionBackend = backend;
        Expression = expression;
        Batcher = batcher;
        Inputs = inputs;
        Outputs = outputs;
    }

    private readonly IBackend? _expressionBackend;

    public string Name { get; }
    public IReadOnlyList<string> Classes { get; }

    /// <summary>A DFER model's compiled session; null for expression.</summary>
    public LoadedModel? Loaded { get; }

    /// <summary>The expression pipeline; null for a DFER model.</summary>
    public ExpressionPipeline? Expression { get; }

    /// <summary>The batcher of a DFER model's clips; null for expression.</summary>
    public DynamicBatcher? Batcher { get; }

    public TensorSpec[] Inputs { get; }
    public TensorSpec[] Outputs { get; }

    /// <summary>The places of requests holding their clips: --max-queue waiting plus --max-batch running
    /// (<see cref="InferenceCore.Admit"/>).</summary>
    public required Places Admitted { get; init; }

    /// <summary>Loaded, compiled and warmed up; false again once the server shuts down.</summary>
    public bool Ready { get => _ready; set => _ready = value; }

    /// <summary>The backend, precision and device the model runs on, for the metadata's properties.</summary>
    public IReadOnlyDictionary<string, string> Properties => new Dictionary<string, string>
    {
        ["classes"] = string.Join(",", Classes),
        ["backend"] = Loaded?.Backend.Name ?? _expressionBackend!.Name,
        ["precision"] = Loaded?.Precision ?? BackendRegistry.PrecisionName(_expressionBackend!),
        ["device"] = Loaded?.Backend.Device ?? _expressionBackend!.Device,
        ["weights"] = Loaded?.Weights.Source ?? "face-api 1.7.15 (pretrained)",
    };

    /// <summary>Loads, compiles and warms up the model <paramref name="spec"/> names. A bad checkpoint or backend is a
    /// <see cref="DferException"/>.</summary>
    public static ServedModel Load(ServedModelSpec spec, ServeSettings settings, ServerMetrics metrics,
        CliConsole console)
    {
        if (spec.Name == ExpressionName) return LoadExpression(settings, console);
        var loaded = LoadedModel.Open(spec.Name, spec.Checkpoint, null, settings.Backend, settings.Threads, console,
            "the server's scores mean nothing", settings.Precision, settings.Classes);
        try
        {
            loaded.CheckBatch(settings.MaxBatch);
            // The warm-up pass, a full batch: kernels JIT-compiled, the buffers of the largest batch allocated (a
            // smaller batch runs in views of them), the cuda graph recorded, before ready. The memory a ready server
            // holds is then what it holds under load.
            console.Progress($"warming up {spec.Name}");
            ClipResult warm = loaded.Session.Run(new float[loaded.Session.ClipLength * settings.MaxBatch],
                settings.MaxBatch, $"{spec.Name} warm-up")[0];
            long[] clipShape = [-1, .. loaded.Model.ClipShape.Select(d => (long)d)];
            long classes = loaded.Model.Classes.Count;
            var outputs = new List<TensorSpec>
            {
                new(OipTensors.Logits, "FP32", [-1, classes]),
                new(OipTensors.Probabilities, "FP32", [-1, classes]),
            };
            if (warm.KeyFrames is { } keys) outputs.Add(new(OipTensors.KeyFrames, "INT32", [-1, keys.Length]));
            metrics.AddModel(spec.Name);
            var batcher = new DynamicBatcher(loaded.Session, spec.Name, settings.MaxBatch,
                TimeSpan.FromMilliseconds(settings.MaxDelayMs), settings.MaxQueue, metrics);
            return new ServedModel(spec.Name, loaded.Model.Classes, loaded, null, null, batcher,
                [new TensorSpec(ClipsInput, "FP32", clipShape)], outputs.ToArray())
            {
                Admitted = new Places(settings.MaxQueue + settings.MaxBatch),
            };
        }
        catch
        {
            loaded.Dispose();
            throw;
        }
    }

    private static ServedModel LoadExpression(ServeSettings settings, CliConsole console)
    {
        IBackend backend = BackendRegistry.Create(settings.Backend, settings.Threads, settings.Precision);
        try
        {
            console.Progress($"loading {ExpressionName} (face-api's pretrained weights) on {backend.Name}");
            var pipeline = ExpressionPipeline.FromCache(backend, new ExpressionOptions { Batch = settings.MaxBatch });
            // Takes no tensors, so no request is ever admitted to it (the video endpoint has its own bound).
            return new ServedModel(ExpressionName, EmotionClasses.Seven, null, backend, pipeline, null, [], [])
            {
                Admitted = new Places(0),
            };
        }
        catch
        {
            backend.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _ready = false;
        if (Batcher is not null) await Batcher.DisposeAsync().ConfigureAwait(false);
        Loaded?.Dispose();
        Expression?.Dispose();
        _expressionBackend?.Dispose();
    }
}
