using System.CommandLine;
using Dfer.Backends;
using Dfer.Cli.Datasets;
using Dfer.Cli.Features;
using Dfer.Cli.Json;
using Dfer.Faces;
using Dfer.Media;
using Dfer.Models;
using Dfer.Pipelines;
using Dfer.Runtime;

namespace Dfer.Cli.Commands;

/// <summary>
/// <c>dfer features --model expression</c>: the expression net's per-frame feature vectors of videos, frame folders
/// or a dataset, for training a Temporal Encoder elsewhere (docs/temporal-encoder.md). The frames go through exactly
/// what <c>infer --model expression</c> runs (face stage, crop, net), so the features are those a Temporal Encoder
/// loaded with <c>--temporal</c> will see.
/// <list type="bullet">
/// <item>one INPUT, <c>--output F.npy</c>: float32 [frames, D] of <c>--layer</c> (a NaN row per frame without a face)
/// and the sidecar <c>F.json</c>; <c>--output F.safetensors</c>: both layers and the per-frame facts as tensors;</item>
/// <item>several INPUTs or <c>--dataset</c>: <c>--output</c> is a folder with one file per video
/// (<c>--file-type</c>) and <c>index.jsonl</c> (<see cref="FeatureIndex"/>); <c>--resume</c> continues an
/// interrupted run, <c>--overwrite</c> starts over.</item>
/// </list>
/// A video that fails (unreadable, no face) is reported and skipped; the others go on.
/// </summary>
internal static class FeaturesCommand
{
    /// <summary>What the index's first line records as the format.</summary>
    public const int FormatVersion = 1;

    /// <summary>What to extract and where to.</summary>
    public sealed record Request(string Model, string[] Inputs, string Output, string Layer, string? FileType,
        string? Dataset, string? Root, string ClipFolder, bool Resume, bool Overwrite, FaceSettings Face,
        string Backend = "cpu", int Threads = 0, int Batch = 8);

    public static Command Create(CliConsole console)
    {
        var model = new Option<string>("--model")
        {
            Description = "The static encoder whose features are written: expression (face-api's expression net)",
            HelpName = "expression",
            Required = true,
        };
        var inputs = new Argument<string[]>("INPUT")
        {
            Description = "Video files (.mp4 .avi .mkv .webm .mov), frame folders or images",
            Arity = ArgumentArity.ZeroOrMore,
        };
        var output = new Option<string>("--output")
        {
            Description = "For one INPUT: the F.npy (one layer, with its F.json sidecar) or F.safetensors to "
                + "write; for several INPUTs or --dataset: a folder, one file per video and index.jsonl",
            HelpName = "FILE|DIR",
            Required = true,
        };
        var layer = SharedOptions.OneOf(new Option<string>("--layer")
        {
            Description = "The features an .npy holds: pooled (the net's 256 pooled features, before its classifier) "
                + "or logits (its 7 logits, in Dfer's class order); a .safetensors file holds both",
            DefaultValueFactory = _ => "pooled",
        }, [.. FeatureFile.Layers.Keys]);
        var fileType = SharedOptions.OneOf(new Option<string>("--file-type")
        {
            Description = "With a folder --output: write each video as npy (with its .json sidecar) or safetensors "
                + "(default)",
        }, "npy", "safetensors");
        var dataset = SharedOptions.Dataset(required: false);
        var root = SharedOptions.Root();
        var clipFolder = SharedOptions.ClipFolder();
        var resume = SharedOptions.Resume();
        resume.Description = "Continue an interrupted run into the same --output folder: keep the videos its "
            + "index.jsonl lists and extract only the rest";
        var overwrite = SharedOptions.Overwrite();
        overwrite.Description = "Start over in an --output folder that holds a previous run's index.jsonl";
        var backend = SharedOptions.Backend();
        var threads = SharedOptions.Threads();
        var batch = NumberOptions.Int("--batch", new ExpressionOptions().Batch, 1, Limits.MaxBatch);
        batch.Description = $"Faces per forward pass (at most {Limits.MaxBatch})";
        var face = new FaceSettings.Parser { WithAllFaces = false };
        var command = new Command("features",
            "Write the per-frame features of face videos (--model expression: face-api's expression net, pooled "
            + "features or logits), frames without a face marked, for training a Temporal Encoder "
            + "(infer --temporal)")
        {
            inputs, model, output, layer, fileType, dataset, root, clipFolder, resume, overwrite, backend, threads,
            batch,
        };
        face.AddTo(command);
        command.SetAction(parsed =>
        {
            FaceSettings faceSettings = face.Get(parsed);
            return Run(new Request(parsed.GetValue(model)!, parsed.GetValue(inputs) ?? [], parsed.GetValue(output)!,
                parsed.GetValue(layer)!, parsed.GetResult(fileType) is { Implicit: false } ? parsed.GetValue(fileType)
                : null, parsed.GetValue(dataset), parsed.GetValue(root), parsed.GetValue(clipFolder)!,
                parsed.GetValue(resume), parsed.GetValue(overwrite), faceSettings, parsed.GetValue(backend)!,
                parsed.GetValue(threads), parsed.GetValue(batch)), console);
        });
        return command;
    }

    public static int Run(Request r, CliConsole console)
    {
        if (!ExpressionInferCommand.Handles(r.Model))
            throw new DferException(
                $"--model {r.Model}: per-frame features come from --model {ExpressionInferCommand.ModelName} (the DFER "
                + "models score whole clips; their outputs are in 'dfer infer')");
        if (r.Face.ModeGiven && r.Face.Mode == FaceMode.None)
            throw new DferException("dfer features always finds the face (the net reads face crops); drop --face none");
        if (r.Dataset is not null && r.Inputs.Length > 0)
            throw new DferException("give videos as INPUT or a --dataset, not both");
        if (r.Dataset is null && r.Inputs.Length == 0)
            throw new DferException("nothing to extract: give a video, frame folder or image, or a --dataset");
        if (r.Dataset is null && (r.Root is not null))
            throw new DferException("--root belongs to a --dataset CSV");
        if (r.Resume && r.Overwrite)
            throw new DferException("--resume and --overwrite contradict each other: pick one");

        string ext = Path.GetExtension(r.Output).ToLowerInvariant();
        bool single = r.Dataset is null && r.Inputs.Length == 1
            && ext is FeatureFile.NpyExtension or FeatureFile.SafetensorsExtension;
        if (!single && ext is FeatureFile.NpyExtension or FeatureFile.SafetensorsExtension)
            throw DferException.ForFile(r.Output,
                "several videos are written one file each: --output must be a folder (it gets index.jsonl)");
        if (single && r.FileType is not null)
            throw new DferException($"--file-type applies to a folder --output; {r.Output} is a {ext} file");
        if (single && r.Resume) throw new DferException("--resume continues a folder --output of several videos");

        var items = r.Dataset is null ? InputItems(r.Inputs)
            : new DatasetOptions(r.Dataset, r.Root, r.ClipFolder, null, DatasetRunner.Existing.Refuse)
                .List(EmotionClasses.Seven.Count);
        var options = new ExpressionOptions { Batch = r.Batch, Face = r.Face.Stage };
        using IBackend backend = BackendRegistry.Create(r.Backend, r.Threads, Dfer.Tensors.Precision.Fp32);
        using var pipeline = ExpressionPipeline.FromCache(backend, options);
        string weights = ExpressionInferCommand.WeightsDescription(pipeline.DetectorName);
        string layer = FeatureFile.Layers[r.Layer];

        if (single)
        {
            var report = Extract(pipeline, items[0].Path, backend, console);
            FeatureFile.Write(report, r.Output, layer, weights);
            WriteDone(console, report, r.Output, layer);
            return ExitCodes.Ok;
        }
        return RunFolder(r, items, pipeline, backend, weights, layer, console);
    }

    private static int RunFolder(Request r, IReadOnlyList<DatasetItem> items, ExpressionPipeline pipeline,
        IBackend backend, string weights, string layer, CliConsole console)
    {
        string type = r.FileType ?? "safetensors";
        string index = Path.Combine(r.Output, FeatureIndex.FileName);
        if (File.Exists(r.Output)) throw DferException.ForFile(r.Output, "is a file; --output here is a folder");
        if (File.Exists(index) && !r.Resume && !r.Overwrite)
            throw DferException.ForFile(index,
                "already exists: pass --resume to continue that run, or --overwrite to start over");
        try
        {
            Directory.CreateDirectory(r.Output);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw DferException.ForFile(r.Output, $"cannot create the folder: {ex.Message}");
        }
        string run = DferJson.ToLine(new FeaturesRunJson(new FeaturesRunJson.Settings(FormatVersion,
            ExpressionInferCommand.ModelName, weights, r.Face.Describe(), type, type == "npy" ? layer : null,
            r.Dataset is null ? null : SharedOptions.FullPath(r.Dataset))), DferJson.Default.FeaturesRunJson);
        using var written = FeatureIndex.Open(r.Output, run, r.Resume);
        if (written.Kept > 0) console.Summary($"resuming: {written.Kept} videos already in {index}");
        var names = FileNames(items);
        int done = 0, failed = 0;
        for (int i = 0; i < items.Count; i++)
        {
            DatasetItem item = items[i];
            if (written.Done.Contains(item.Name)) continue;
            string file = names[i] + (type == "npy" ? FeatureFile.NpyExtension : FeatureFile.SafetensorsExtension);
            string? label = item.Target is int t && t >= 0 && t < EmotionClasses.Seven.Count
                ? EmotionClasses.Seven[t] : null;
            try
            {
                if (item.Error is not null) throw new DferException(item.Error);
                var report = Extract(pipeline, item.Path, backend, console);
                FeatureFile.Write(report, Path.Combine(r.Output, file), layer, weights);
                written.Add(new FeaturesRowJson(item.Name, item.Path, file, report.Frames.Count, report.FramesWithFace,
                    item.Target, label, null));
                done++;
            }
            catch (DferException e)
            {
                console.Error(e.Message);
                written.Add(new FeaturesRowJson(item.Name, item.Path, null, null, null, item.Target, label, e.Message));
                failed++;
            }
        }
        console.Summary($"features of {done} video{(done == 1 ? "" : "s")} written to {r.Output}"
            + (written.Kept > 0 ? $" ({written.Kept} kept from before)" : "")
            + (failed > 0 ? $"; {failed} failed (see {index})" : "") + $"; index: {index}");
        return failed > 0 ? ExitCodes.InputFailed : ExitCodes.Ok;
    }

    /// <summary>Runs the expression pipeline on one video; a video without any face is an error.</summary>
    private static ExpressionReport Extract(ExpressionPipeline pipeline, string input, IBackend backend,
        CliConsole console) =>
        ExpressionInferCommand.Analyse(pipeline, input, backend, console, "extracting features",
            "; no features written").Report;

    private static void WriteDone(CliConsole console, ExpressionReport report, string output, string layer)
    {
        string what = output.EndsWith(FeatureFile.NpyExtension, StringComparison.OrdinalIgnoreCase)
            ? $"{layer} [{report.Frames.Count}, {TemporalEncoderConfig.FeatureSizes[layer]}] to {output} (frames, "
                + $"times and boxes in {FeatureFile.SidecarOf(output)})"
            : $"{TemporalFeatures.Pooled} and {TemporalFeatures.Logits} of {report.Frames.Count} frames to {output}";
        Output.WriteLine(console.Out, $"{report.Input}: face in {report.FramesWithFace} of {report.Frames.Count} "
            + $"frames; wrote {what}; frames without a face are rows of NaN");
    }

    /// <summary>INPUT paths as items named by their path (the index's key; the file is named after the last part).
    /// </summary>
    private static List<DatasetItem> InputItems(string[] inputs)
    {
        var items = new List<DatasetItem>();
        foreach (string input in inputs)
        {
            if (string.IsNullOrWhiteSpace(input)) throw new DferException("an INPUT path is empty");
            items.Add(new DatasetItem(input, input, null));
        }
        var twice = items.GroupBy(i => i.Path, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (twice is not null) throw DferException.ForFile(twice.Key, "is given twice");
        return items;
    }

    /// <summary>Each item's file name in the folder, without extension: its name without a video extension, made safe
    /// for a file name, and numbered where two would collide.</summary>
    internal static string[] FileNames(IReadOnlyList<DatasetItem> items)
    {
        var used = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { Path.GetFileNameWithoutExtension(
            FeatureIndex.FileName) };
        var names = new string[items.Count];
        for (int i = 0; i < items.Count; i++)
        {
            string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(items[i].Name));
            if (MediaInput.HasVideoExtension(name) || MediaInput.HasImageExtension(name))
                name = Path.GetFileNameWithoutExtension(name);
            var safe = new string(name.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_')
                .ToArray()).TrimStart('.');
            if (safe.Length == 0) safe = "video";
            if (safe.Length > 100) safe = safe[..100];
            string candidate = safe;
            for (int k = 2; !used.Add(candidate); k++) candidate = $"{safe}_{k}";
            names[i] = candidate;
        }
        return names;
    }
}
