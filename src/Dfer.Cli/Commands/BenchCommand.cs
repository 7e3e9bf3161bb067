using System.CommandLine;
using System.Diagnostics;
using Dfer.Cli.Bench;
using Dfer.Cli.Json;
using Dfer.Cli.Scoring;
using Dfer.Faces;
using Dfer.Tensors;

namespace Dfer.Cli.Commands;

/// <summary>
/// <c>dfer bench</c>: times forward passes of one generated batch and reports the median, which
/// a stray slow pass (a GC, another process) does not move the way it moves a mean.
/// </summary>
internal static class BenchCommand
{
    /// <summary>Seed of the benchmark clips; fixed so that every run times the same data.</summary>
    public const ulong ClipSeed = 42;

    /// <summary>Settings of one run, as parsed from the command line.</summary>
    public sealed record Settings(string Model, string? Weights, string? Key, string Backend, int Batch, int Threads,
        int Warmup, int Repeats, string Format,
        Precision Precision = Precision.Fp32);

    /// <summary>What a run measured.</summary>
    public sealed record Report(string Model, string Backend, int Batch, double ClipsPerSecond, double LatencyMs,
        double GflopsPerSecond, string Weights, string Device, int Threads, int Warmup, int Repeats,
        string Precision = "fp32", string? Execution = null,
        double? StreamedClipsPerSecond = null);

    /// <summary>Names <c>--detector</c> takes: each face detector, or both.</summary>
    public static readonly string[] DetectorNames = ["ssd", "tiny", "all"];

    public static Command Create(CliConsole console)
    {
        var model = SharedOptions.ModelOption(new Option<string>("--model"), false,
            "Model to time (or give --detector for the face detection benchmark): ");
        var weights = SharedOptions.Weights();
        var key = SharedOptions.Key();
        var backend = SharedOptions.Backend();
        var precision = SharedOptions.Precision();
        var batch = SharedOptions.Batch(2);
        var threads = SharedOptions.Threads();
        var warmup = NumberOptions.Int("--warmup", 1, 0, Limits.MaxPasses);
        warmup.Description = $"Untimed passes first (kernel JIT, caches, thread start-up; on cuda the first pass also "
            + $"records the CUDA graph the others replay; at most {Limits.MaxPasses})";
        var repeats = NumberOptions.Int("--repeats", 5, 1, Limits.MaxPasses);
        repeats.Description = $"Timed passes; the median is reported (at most {Limits.MaxPasses})";
        var format = SharedOptions.Format();
        var detector = SharedOptions.OneOf(new Option<string>("--detector")
        {
            Description = "Instead of --model: the face detection benchmark (docs/detection-benchmark.md): recall, "
                + "false detections, box IoU and frames/s of the face detector(s) on clips made from face-api's demo "
                + "photos; all runs ssd and tiny side by side",
        }, DetectorNames);
        var detectorSize = NumberOptions.Int("--detector-size", new FaceDetectorOptions().TinyInputSize,
            Limits.MinDetectorSize, Limits.MaxDetectorSize,
            check: size => size % 32 == 0 ? null : "not a multiple of 32");
        detectorSize.Description = "With --detector tiny or all: the tiny detector's input size in pixels, a multiple "
            + $"of 32 (the ssd detector's is fixed at 512)";
        detectorSize.HelpName = "PIXELS";
        var detectorScore = FaceSettings.Parser.ScoreOption();
        detectorScore.Description = "With --detector: l" + detectorScore.Description![1..];
        var frames = NumberOptions.Int("--frames", DetectionClips.DefaultFrames, 2, Limits.MaxClipFrames);
        frames.Description = $"With --detector: frames per clip (at most {Limits.MaxClipFrames})";
        var clips = NumberOptions.Optional("--clips", 1, int.MaxValue);
        clips.Description = "With --detector: only the first N clips (six per photo: zoom, pan, small, rotate, dark, "
            + "blur; default all 36)";
        var detectEvery = NumberOptions.Int("--detect-every", new FaceStageOptions().DetectEvery, 1, 1000);
        detectEvery.Description = "With --detector: the face stage's detection step the tracked columns use (the "
            + "detector on every N-th frame, the tracker bridging the rest), as infer runs it";
        var command = new Command("bench",
            "Time forward passes on a generated batch and report the median latency, clips/s and GFLOP/s; with "
            + "--detector, benchmark the face detectors")
        {
            model, weights, key, backend, precision, batch, threads, warmup, repeats, format, detector, detectorSize,
            detectorScore, frames, clips, detectEvery,
        };
        command.SetAction(parsed =>
        {
            bool Given(Option o) => parsed.GetResult(o) is { Implicit: false };
            string? detectorName = parsed.GetValue(detector);
            if (detectorName is null)
            {
                if (parsed.GetValue(model) is null)
                    throw new DferException(
                        "give --model NAME to time a model, or --detector ssd|tiny|all for the face detection "
                        + "benchmark");
                foreach (Option o in new Option[] { detectorSize, detectorScore, frames, clips, detectEvery })
                    if (Given(o)) throw new DferException($"{o.Name} applies to the face detection benchmark; add "
                        + "--detector ssd|tiny|all instead of --model");
                return Run(new Settings(
                    parsed.GetValue(model)!, parsed.GetValue(weights), parsed.GetValue(key),
                    parsed.GetValue(backend)!, parsed.GetValue(batch), parsed.GetValue(threads),
                    parsed.GetValue(warmup), parsed.GetValue(repeats), parsed.GetValue(format)!,
                    SharedOptions.GetPrecision(parsed, precision)), console);
            }
            if (Given(model))
                throw new DferException("--detector benchmarks the face detectors and --model times a model: give one");
            foreach (Option o in new Option[] { weights, key, precision, batch, warmup, repeats })
                if (Given(o))
                    throw new DferException($"{o.Name} applies to timing a --model; --detector runs the face-api "
                        + "detectors on their own weights, in fp32, over every benchmark frame once");
            var kinds = detectorName == "all" ? new[] { FaceDetectorKind.Ssd, FaceDetectorKind.Tiny }
                : [FaceDetectorOptions.Parse(detectorName)];
            if (Given(detectorSize) && detectorName == "ssd")
                throw new DferException("--detector-size sets the tiny detector's input; the ssd detector's is 512");
            return DetectionBench.Run(new DetectionBench.Settings(kinds, parsed.GetValue(detectorSize),
                parsed.GetValue(frames), parsed.GetValue(clips), parsed.GetValue(backend)!, parsed.GetValue(threads),
                parsed.GetValue(format)!, parsed.GetValue(detectEvery),
                FaceSettings.Parser.Score(parsed, detectorScore)), console);
        });
        return command;
    }

    public static int Run(Settings settings, CliConsole console)
    {
        using var loaded = LoadedModel.Open(settings.Model, settings.Weights, settings.Key, settings.Backend,
            settings.Threads, console,
            "timings are representative, the scores are not", settings.Precision);
        loaded.CheckBatch(settings.Batch);
        var session = loaded.Session;
        float[] clips = new DeterministicRandom(ClipSeed).Uniform((long)settings.Batch * session.ClipLength, 0f, 1f);

        for (int i = 0; i < settings.Warmup; i++)
        {
            double ms = TimeOnePass(session, clips, settings.Batch);
            console.Progress($"warm-up {i + 1}/{settings.Warmup}: {ms:F1} ms");
        }
        var times = new double[settings.Repeats];
        for (int i = 0; i < settings.Repeats; i++)
        {
            times[i] = TimeOnePass(session, clips, settings.Batch);
            console.Progress($"pass {i + 1}/{settings.Repeats}: {times[i]:F1} ms");
        }

        // Where batches overlap (cuda), also the throughput of a stream: the next batch is submitted, and its input
        // uploaded, while the one before computes, as `infer --dataset` runs them.
        double? streamed = null;
        if (session.Pipelined)
        {
            long begin = Stopwatch.GetTimestamp();
            Runtime.PendingClips? previous = null;
            for (int i = 0; i < settings.Repeats; i++)
            {
                var current = session.Submit(clips, settings.Batch, "benchmark batch");
                previous?.Wait();
                previous = current;
            }
            previous?.Wait();
            streamed = (double)settings.Repeats * settings.Batch / Stopwatch.GetElapsedTime(begin).TotalSeconds;
            console.Progress($"streamed {settings.Repeats} batches: {streamed:F1} clips/s");
        }

        // Counted after timing: it builds a second graph, garbage the timed passes should not collect.
        long flopsPerClip = session.FlopsPerClip;
        double median = Median(times);
        double seconds = median / 1000.0;
        var report = new Report(loaded.Model.Name, loaded.Backend.Name, settings.Batch, settings.Batch / seconds,
            median,
            (double)flopsPerClip * settings.Batch / seconds / 1e9, loaded.Weights.Source, loaded.Backend.Device,
            loaded.Threads, settings.Warmup, settings.Repeats, loaded.Precision, session.Execution, streamed);
        if (settings.Format == Output.Json) WriteJson(console.Out, report);
        else WriteTable(console.Out, report);
        return ExitCodes.Ok;
    }

    private static double TimeOnePass(Runtime.Session session, float[] clips, int batch)
    {
        long start = Stopwatch.GetTimestamp();
        session.Run(clips, batch, "benchmark batch");
        return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }

    /// <summary>The middle value; the mean of the two middle ones for an even count.</summary>
    public static double Median(IReadOnlyList<double> values)
    {
        var sorted = values.Order().ToArray();
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    private static void WriteJson(TextWriter stdout, Report r)
        => Output.WriteJson(stdout, BenchJson.From(r), DferJson.Default.BenchJson);

    private static void WriteTable(TextWriter stdout, Report r) =>
        Output.WriteFacts(stdout, new[]
        {
            ("model", $"{r.Model} ({r.Weights})"),
            ("backend", $"{r.Backend} on {r.Device}"),
            ("precision", r.Precision),
            ("batch", $"{r.Batch} clip{(r.Batch == 1 ? "" : "s")}, {r.Threads} thread{(r.Threads == 1 ? "" : "s")}, "
                + $"median of {r.Repeats} after {r.Warmup} warm-up"),
            ("latency", $"{Output.Fixed(r.LatencyMs, r.LatencyMs < 10 ? 3 : 1)} ms per batch"),
            ("throughput", $"{Output.Fixed(r.ClipsPerSecond, 2)} clips/s"),
            ("compute", $"{Output.Fixed(r.GflopsPerSecond, 1)} GFLOP/s"),
        }.Concat(r.StreamedClipsPerSecond is double s
            ? new[] { ("streamed", $"{Output.Fixed(s, 2)} clips/s (next batch uploads while one computes)") } : [])
         .Concat(r.Execution is null ? [] : new[] { ("execution", r.Execution) }).ToList());
}
