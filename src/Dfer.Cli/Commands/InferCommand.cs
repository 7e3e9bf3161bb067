using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Dfer.Models;
using Dfer.Runtime;
using Dfer.Tensors;

namespace Dfer.Cli.Commands;

/// <summary>
/// <c>dfer infer</c>: scores every clip of every input .npy. A bad input file is reported and
/// skipped; the others are still scored.
/// </summary>
internal static class InferCommand
{
    /// <summary>Settings of one run, as parsed from the command line.</summary>
    public sealed record Settings(string Model, string? Weights, string Backend, int Threads, int Batch, string Format, string[] Inputs);

    public static Command Create(CliConsole console)
    {
        var model = SharedOptions.Model();
        var weights = SharedOptions.Weights();
        var backend = SharedOptions.Backend();
        var threads = SharedOptions.Threads();
        var batch = SharedOptions.Batch(8);
        var format = SharedOptions.Format();
        var inputs = new Argument<string[]>("INPUT.npy")
        {
            Description = "float32 .npy files of shape [B, 16, 3, 112, 112] (or one clip [16, 3, 112, 112]): clips, frames, RGB, height, width; values in [0, 1]",
            Arity = ArgumentArity.OneOrMore,
        };
        // A string argument swallows a mistyped option ("--batchsize 4") as a file name; catch it here
        // so it is a usage error like any unknown option. "./-odd.npy" still names such a file.
        inputs.Validators.Add(result =>
        {
            foreach (var token in result.Tokens)
                if (token.Value.Length > 1 && token.Value[0] == '-' && !File.Exists(token.Value))
                    result.AddError($"Unrecognized command or argument '{token.Value}'.");
        });
        var command = new Command("infer", "Score face clips: the 7 emotion logits and probabilities of every clip in the input files")
        {
            model, weights, backend, threads, batch, format, inputs,
        };
        command.SetAction(parsed => Run(new Settings(
            parsed.GetValue(model)!, parsed.GetValue(weights), parsed.GetValue(backend)!, parsed.GetValue(threads),
            parsed.GetValue(batch), parsed.GetValue(format)!, parsed.GetValue(inputs)!), console));
        return command;
    }

    /// <summary>One input file: its clips once read, then their scores, or why it failed.</summary>
    private sealed class InputFile(string path)
    {
        public string Path { get; } = path;
        public float[]? Data { get; set; }
        public ClipResult[]? Results { get; set; }
        public string? Error { get; set; }
    }

    public static int Run(Settings settings, CliConsole console)
    {
        using var loaded = LoadedModel.Open(settings.Model, settings.Weights, settings.Backend, settings.Threads, console,
            "the scores are meaningless (pass --weights FILE for real predictions)");
        loaded.CheckBatch(settings.Batch);
        var files = settings.Inputs.Select(p => new InputFile(p)).ToList();
        var scorer = new BatchScorer(loaded.Session, settings.Batch, console);

        foreach (InputFile file in files)
        {
            try
            {
                int clips = Read(file, loaded.Model, console);
                file.Results = new ClipResult[clips];
                for (int c = 0; c < clips; c++) scorer.Add(file, c);
            }
            catch (DferException ex)
            {
                Fail(file, ex.Message, console);
            }
        }
        scorer.Flush();

        if (settings.Format == Output.Json) WriteJson(console.Out, loaded, files);
        else WriteTable(console.Out, loaded.Model, files);

        int failed = files.Count(f => f.Error is not null);
        if (failed > 0 && files.Count > 1)
            console.Progress($"{failed} of {files.Count} inputs failed");
        return failed > 0 ? ExitCodes.InputFailed : ExitCodes.Ok;
    }

    private static void Fail(InputFile file, string message, CliConsole console)
    {
        if (file.Error is not null) return;
        // A file is scored completely or not at all, so no consumer mistakes part of a file for all of it.
        file.Error = CliConsole.OneLine(message);
        file.Data = null;
        file.Results = null;
        console.Error(file.Error);
    }

    /// <summary>
    /// Reads and checks one input before any of it runs, so that a bad clip fails its whole file
    /// with the clip's index in the file (the session only knows indices within a batch).
    /// </summary>
    /// <returns>The number of clips.</returns>
    private static int Read(InputFile file, IModel model, CliConsole console)
    {
        var (data, shape) = Npy.ReadFloat32(file.Path);
        int[] clipShape = model.ClipShape;
        int clips;
        if (shape.AsSpan().SequenceEqual(clipShape)) clips = 1;
        else if (shape.Length == clipShape.Length + 1 && shape.AsSpan(1).SequenceEqual(clipShape)) clips = shape[0];
        else throw DferException.ForFile(file.Path, $"shape {Output.Shape(shape)} is not {ExpectedShape(clipShape)} (clips, frames, RGB, height, width){ShapeHint(shape, clipShape)}");

        if (clips == 0) console.Warning($"{file.Path}: holds no clips");
        int clipLength = data.Length / Math.Max(clips, 1);
        long outside = 0;
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        for (int c = 0; c < clips; c++)
        {
            ReadOnlySpan<float> clip = data.AsSpan(c * clipLength, clipLength);
            for (int i = 0; i < clip.Length; i++)
            {
                float v = clip[i];
                if (!float.IsFinite(v))
                    throw DferException.ForFile(file.Path, $"clip {c} contains {(float.IsNaN(v) ? "NaN" : "Inf")} (at value {i} of the clip)");
                if (v < 0f || v > 1f) outside++;
                min = Math.Min(min, v);
                max = Math.Max(max, v);
            }
        }
        if (outside > 0)
        {
            string hint = max > 2f ? "; these look like 0-255 pixel values: divide by 255" : "";
            console.Warning($"{file.Path}: {outside} of {data.Length} values lie outside [0, 1] (min {min:R}, max {max:R}); the model expects RGB scaled to [0, 1]{hint}");
        }
        file.Data = data;
        return clips;
    }

    private static string ExpectedShape(int[] clipShape) => "[B, " + string.Join(", ", clipShape) + "]";

    /// <summary>Names the two layout mistakes people make when exporting clips, when the shape shows one.</summary>
    private static string ShapeHint(int[] shape, int[] clipShape)
    {
        if (shape.Length != clipShape.Length + 1 || clipShape.Length != 4) return "";
        int frames = clipShape[0], channels = clipShape[1], height = clipShape[2], width = clipShape[3];
        if (shape[1] == frames && shape[2] == height && shape[3] == width && shape[4] == channels)
            return "; the frames look channels-last (B, T, H, W, C): transpose with arr.transpose(0, 1, 4, 2, 3)";
        if (shape[1] == channels && shape[2] == frames && shape[3] == height && shape[4] == width)
            return "; channels come before frames (B, C, T, H, W): transpose with arr.transpose(0, 2, 1, 3, 4)";
        return "";
    }

    /// <summary>
    /// Groups clips into batches across file boundaries, so many one-clip files still run at the
    /// requested batch size.
    /// </summary>
    private sealed class BatchScorer(Session session, int batch, CliConsole console)
    {
        private readonly List<(InputFile File, int Clip)> _pending = new();
        private float[]? _buffer;
        private int _batches, _scored;

        public void Add(InputFile file, int clip)
        {
            _pending.Add((file, clip));
            if (_pending.Count == batch) Flush();
        }

        public void Flush()
        {
            // A file that failed in an earlier batch contributes nothing more.
            _pending.RemoveAll(p => p.File.Error is not null);
            if (_pending.Count == 0) return;
            int n = _pending.Count, clipLength = session.ClipLength;
            // Sized by what is pending, not by --batch: a generous --batch over a few clips must not allocate for clips that never come.
            if (_buffer is null || _buffer.Length < n * clipLength) _buffer = new float[n * clipLength];
            for (int i = 0; i < n; i++)
            {
                var (file, clip) = _pending[i];
                file.Data!.AsSpan(clip * clipLength, clipLength).CopyTo(_buffer.AsSpan(i * clipLength, clipLength));
            }
            var sources = _pending.Select(p => p.File).Distinct().ToList();
            string source = sources.Count == 1 ? sources[0].Path : "batch of " + string.Join(", ", sources.Select(f => f.Path));
            var watch = Stopwatch.StartNew();
            try
            {
                ClipResult[] results = session.Run(_buffer.AsSpan(0, n * clipLength), n, source);
                for (int i = 0; i < n; i++)
                {
                    var (file, clip) = _pending[i];
                    if (file.Results is not null) file.Results[clip] = results[i];
                }
            }
            catch (DferException ex)
            {
                foreach (InputFile file in sources) Fail(file, ex.Message, console);
            }
            _batches++;
            _scored += n;
            console.Progress($"batch {_batches}: {n} clip{(n == 1 ? "" : "s")} in {watch.Elapsed.TotalSeconds:F1} s ({_scored} scored)");
            // A file's data is needed only until its last clip has run.
            foreach (InputFile file in sources)
                if (file.Results is not null && _pending[^1].File != file) file.Data = null;
            _pending.Clear();
        }
    }

    private static void WriteJson(TextWriter stdout, LoadedModel loaded, List<InputFile> files) =>
        Output.WriteJson(stdout, json =>
        {
            json.WriteString("model", loaded.Model.Name);
            json.WriteString("backend", loaded.Backend.Name);
            json.WriteString("weights", loaded.Weights.Source);
            json.WriteStartArray("results");
            foreach (InputFile file in files)
            {
                if (file.Results is null) continue;
                for (int c = 0; c < file.Results.Length; c++) WriteResult(json, file.Path, c, file.Results[c]);
            }
            json.WriteEndArray();
            json.WriteStartArray("errors");
            foreach (InputFile file in files.Where(f => f.Error is not null))
            {
                json.WriteStartObject();
                json.WriteString("input", file.Path);
                json.WriteString("error", file.Error);
                json.WriteEndObject();
            }
            json.WriteEndArray();
        });

    private static void WriteResult(Utf8JsonWriter json, string path, int index, ClipResult result)
    {
        json.WriteStartObject();
        json.WriteString("input", path);
        json.WriteNumber("index", index);
        Output.WriteFloats(json, "logits", result.Logits);
        Output.WriteFloats(json, "probabilities", result.Probabilities);
        json.WriteString("label", result.Label);
        json.WriteEndObject();
    }

    private static void WriteTable(TextWriter stdout, IModel model, List<InputFile> files)
    {
        var classes = model.Classes;
        var rows = new List<string[]> { new[] { "input", "index", "label", "p(label)" }.Concat(classes).ToArray() };
        foreach (InputFile file in files)
        {
            if (file.Results is null) continue;
            for (int c = 0; c < file.Results.Length; c++)
            {
                ClipResult r = file.Results[c];
                float p = r.Probabilities[IndexOf(classes, r.Label)];
                rows.Add(new[] { file.Path, c.ToString(), r.Label, Output.Fixed(p, 4) }
                    .Concat(r.Probabilities.Select(v => Output.Fixed(v, 4))).ToArray());
            }
        }
        // A header over no rows says nothing the error lines have not.
        if (rows.Count == 1) return;
        var numeric = new HashSet<int>(Enumerable.Range(3, classes.Count + 1)) { 1 };
        Output.WriteTable(stdout, rows, numeric);
    }

    private static int IndexOf(IReadOnlyList<string> classes, string label)
    {
        for (int i = 0; i < classes.Count; i++)
            if (classes[i] == label) return i;
        throw new InvalidOperationException($"label '{label}' is not one of the model's classes");
    }
}
