using System.CommandLine;
using Dfer.Cli.Commands;
using Dfer.Tensors;

namespace Dfer.Cli.Serve;

/// <summary>One <c>--model NAME[=CHECKPOINT]</c> of <c>dfer serve</c>.</summary>
internal sealed record ServedModelSpec(string Name, string? Checkpoint);

/// <summary>What <c>dfer serve</c> was told (docs/serving.md, "Options").</summary>
internal sealed record ServeSettings(
    IReadOnlyList<ServedModelSpec> Models,
    string Backend = "cpu",
    Precision Precision = Precision.Fp32,
    int Threads = 0,
    string Host = "127.0.0.1",
    int HttpPort = 8080,
    int GrpcPort = 8081,
    int MaxBatch = 8,
    int MaxDelayMs = 5,
    int MaxQueue = 64,
    int MaxBodyMb = 64,
    int TimeoutMs = 60_000,
    int VideoWorkers = 1,
    bool GeneratedWeights = false,
    bool JsonLogs = false,
    Dfer.Models.ClassOrder Classes = Dfer.Models.ClassOrder.Dfew)
{
    /// <summary>The largest request body, in bytes.</summary>
    public long MaxBodyBytes => (long)MaxBodyMb << 20;
}

/// <summary>
/// <c>dfer serve</c>: the models named by --model behind the Open Inference Protocol (REST and gRPC), a video endpoint,
/// a web page and Prometheus metrics, until SIGTERM or Ctrl+C (docs/serving.md).
/// </summary>
internal static class ServeCommand
{
    public static Command Create(CliConsole console)
    {
        var model = new Option<string[]>("--model")
        {
            Description = "A model to serve, NAME=CHECKPOINT (a .pth or .safetensors); repeat for several. The "
                + "expression model needs no checkpoint (--model expression: face-api's pretrained weights)",
            HelpName = "NAME=CHECKPOINT",
            Required = true,
            AllowMultipleArgumentsPerToken = false,
        };
        var generated = SharedOptions.GeneratedWeights();
        generated.Description = "Serve a DFER model given without =CHECKPOINT on deterministic generated weights "
            + "(for tests and load runs: the scores mean nothing)";
        var backend = SharedOptions.Backend();
        var precision = SharedOptions.Precision();
        var threads = SharedOptions.Threads();
        var host = new Option<string>("--host")
        {
            Description = "Address to listen on (0.0.0.0 in a container)",
            HelpName = "ADDRESS",
            DefaultValueFactory = _ => "127.0.0.1",
        };
        var httpPort = NumberOptions.Int("--http-port", 8080, 0, 65535);
        httpPort.Description = "Port of the REST API, the web page and /metrics (0: any free port)";
        var grpcPort = NumberOptions.Int("--grpc-port", 8081, 0, 65535);
        grpcPort.Description = "Port of the gRPC API, plaintext HTTP/2 (0: any free port)";
        var maxBatch = NumberOptions.Int("--max-batch", 8, 1, Limits.MaxBatch);
        maxBatch.Description = "Clips the dynamic batcher puts into one forward pass at most";
        var maxDelay = NumberOptions.Int("--max-delay-ms", 5, 0, 10_000);
        maxDelay.Description = "How long the first request of a batch waits for others to join it, in milliseconds";
        var maxQueue = NumberOptions.Int("--max-queue", 64, 1, 100_000);
        maxQueue.Description = "Requests waiting per model at most; more are refused at once (HTTP 429, gRPC "
            + "RESOURCE_EXHAUSTED)";
        var maxBody = NumberOptions.Int("--max-body-mb", 64, 1, 4096);
        maxBody.Description = "The largest request body in MiB (one M3DFEL clip is 2.3 MiB in binary, about 6 in JSON)";
        var timeout = NumberOptions.Int("--timeout-ms", 60_000, 1, 3_600_000);
        timeout.Description = "A request's deadline in milliseconds unless it brings a shorter one (HTTP 504, gRPC "
            + "DEADLINE_EXCEEDED)";
        var videoWorkers = NumberOptions.Int("--video-workers", 1, 1, 64);
        videoWorkers.Description = "Videos decoded and searched for faces at once (the video endpoint's worker pool, "
            + "apart from the model's batcher)";
        var classes = SharedOptions.Classes();
        var jsonLogs = new Option<bool>("--log-json")
        {
            Description = "Write the server's log as JSON lines (one object per event) instead of text",
        };
        var command = new Command("serve",
            "Serve models over the Open Inference Protocol (REST and gRPC) with dynamic batching, a video endpoint, a "
            + "web page and Prometheus metrics (docs/serving.md)")
        {
            model, generated, backend, precision, threads, host, httpPort, grpcPort, maxBatch, maxDelay, maxQueue,
            maxBody, timeout, videoWorkers, classes, jsonLogs,
        };
        command.SetAction((parsed, cancel) =>
        {
            var settings = new ServeSettings(ParseModels(parsed.GetValue(model)!, parsed.GetValue(generated)),
                parsed.GetValue(backend)!, SharedOptions.GetPrecision(parsed, precision), parsed.GetValue(threads),
                parsed.GetValue(host)!, parsed.GetValue(httpPort), parsed.GetValue(grpcPort), parsed.GetValue(maxBatch),
                parsed.GetValue(maxDelay), parsed.GetValue(maxQueue), parsed.GetValue(maxBody),
                parsed.GetValue(timeout), parsed.GetValue(videoWorkers), parsed.GetValue(generated),
                parsed.GetValue(jsonLogs), Dfer.Models.EmotionClasses.ParseOrder(parsed.GetValue(classes)!));
            return DferServer.RunAsync(settings, console, cancel);
        });
        return command;
    }

    /// <summary>NAME[=CHECKPOINT] values: known models, each once, a checkpoint for every DFER model unless
    /// <paramref name="generated"/>, none for expression.</summary>
    public static IReadOnlyList<ServedModelSpec> ParseModels(IEnumerable<string> values, bool generated)
    {
        var specs = new List<ServedModelSpec>();
        foreach (string value in values)
        {
            int eq = value.IndexOf('=');
            string name = (eq < 0 ? value : value[..eq]).Trim().ToLowerInvariant();
            string? checkpoint = eq < 0 ? null : value[(eq + 1)..];
            if (!ServedModel.Names.Contains(name))
                throw new DferException(
                    $"--model {value}: no model '{name}'; models: {string.Join(", ", ServedModel.Names)}");
            if (specs.Any(s => s.Name == name))
                throw new DferException($"--model {value}: {name} is already served; give each model once");
            if (checkpoint is { Length: 0 })
                throw new DferException($"--model {value}: the checkpoint after '=' is empty");
            if (name == ServedModel.ExpressionName)
            {
                if (checkpoint is not null)
                    throw new DferException($"--model {value}: expression runs face-api's pretrained weights; give "
                        + "--model expression without a checkpoint");
            }
            else if (checkpoint is null && !generated)
                throw new DferException($"--model {value}: give its checkpoint, --model {name}=FILE (or add "
                    + $"{SharedOptions.GeneratedWeightsOption} to serve generated weights for testing)");
            else if (checkpoint is not null && generated)
                throw new DferException($"--model {value}: {SharedOptions.GeneratedWeightsOption} serves generated "
                    + "weights; drop the checkpoint or the option");
            specs.Add(new ServedModelSpec(name, checkpoint));
        }
        if (specs.Count == 0) throw new DferException("--model: name at least one model to serve");
        return specs;
    }
}
