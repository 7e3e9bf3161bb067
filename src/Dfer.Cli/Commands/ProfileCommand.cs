using System.CommandLine;
using Dfer.Backends;
using Dfer.Cli.Json;
using Dfer.Cli.Plots;
using Dfer.Cli.Profiling;
using Dfer.Cli.Scoring;
using Dfer.Runtime;
using Dfer.Tensors;

namespace Dfer.Cli.Commands;

/// <summary>
/// <c>dfer profile</c>: where a forward pass spends its time, layer by layer, against the device's
/// roofline; optionally a Chrome trace, an SVG roofline, and several backends side by side.
/// </summary>
internal static class ProfileCommand
{
    public sealed record Settings(string Model, string? Weights, string? Key, string Backend, string? Compare,
        int Threads, int Batch,
        Precision Precision, string Format, int Warmup, int Repeats, string? Trace, string? Plot, int Top);

    public static Command Create(CliConsole console)
    {
        var model = SharedOptions.Model();
        var weights = SharedOptions.Weights();
        var key = SharedOptions.Key();
        var backend = SharedOptions.Backend();
        var compare = new Option<string?>("--compare")
        {
            Description = "Profile several backends and show the layers side by side, e.g. cpu,ilgpu-cpu (replaces "
                + "--backend)",
            HelpName = "B1,B2,...",
        };
        var threads = SharedOptions.Threads();
        var batch = SharedOptions.Batch(1);
        var precision = SharedOptions.Precision();
        var format = SharedOptions.Format();
        var warmup = NumberOptions.Int("--warmup", 1, 0, Limits.MaxPasses);
        warmup.Description = $"Untimed passes first (at most {Limits.MaxPasses})";
        var repeats = NumberOptions.Int("--repeats", 3, 1, Limits.MaxPasses);
        repeats.Description = $"Profiled passes; each layer reports its median (at most {Limits.MaxPasses})";
        var trace = new Option<string?>("--trace")
        {
            Description = "Write a Chrome trace (opens in Perfetto or chrome://tracing): one event per layer per pass",
            HelpName = "FILE.json"
        };
        var plot = new Option<string?>("--plot")
        {
            Description = "Draw the roofline with one point per layer: .svg or .png by the extension",
            HelpName = "FILE.svg|png"
        };
        var top = NumberOptions.Int("--top", 10, 0, Limits.MaxTop);
        top.Description = "How many of the slowest layers to list";
        var command = new Command("profile",
            "Profile a model layer by layer: time, FLOPs, bytes, GFLOP/s, GB/s and roofline bound per layer")
        {
            model, weights, key, backend, compare, threads, batch, precision, format, warmup, repeats, trace, plot, top,
        };
        command.SetAction(
            parsed => Run(new Settings(parsed.GetValue(model)!, parsed.GetValue(weights), parsed.GetValue(key),
            parsed.GetValue(backend)!, parsed.GetValue(compare), parsed.GetValue(threads), parsed.GetValue(batch),
            SharedOptions.GetPrecision(parsed, precision),
            parsed.GetValue(format)!, parsed.GetValue(warmup), parsed.GetValue(repeats), parsed.GetValue(trace),
            parsed.GetValue(plot),
            parsed.GetValue(top)), console));
        return command;
    }

    public static int Run(Settings settings, CliConsole console)
    {
        string[] backends = settings.Compare is string list
            ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : [settings.Backend];
        if (backends.Length == 0) throw new DferException("--compare needs backend names, e.g. cpu,ilgpu-cpu");
        if (backends.Length > 1 && (settings.Trace is not null || settings.Plot is not null))
            throw new DferException("--trace and --plot describe one backend: drop them or --compare");
        CheckWritable(settings.Trace, ".json", "--trace");
        CheckWritable(settings.Plot, ".svg", "--plot", ".png");
        // Refused before any backend is opened or any model compiled: every backend of a --compare must compute in it.
        foreach (string name in backends)
            if (BackendRegistry.List().Any(b => string.Equals(b.Name, name, StringComparison.OrdinalIgnoreCase)))
                BackendRegistry.CheckPrecision(name, settings.Precision);

        var profiles = new List<ProfileResult>();
        foreach (string name in backends)
        {
            using var loaded = LoadedModel.Open(settings.Model, settings.Weights, settings.Key, name, settings.Threads,
                console,
                "timings are representative, the scores are not", settings.Precision);
            loaded.CheckBatch(settings.Batch);
            console.Progress($"calibrating the peaks of {loaded.Backend.Device}");
            DevicePeaks peaks = DevicePeaks.For(loaded.Backend, loaded.Threads);
            console.Progress(
                $"profiling {loaded.Model.Name} on {loaded.Backend.Name}: {settings.Warmup} warm-up "
                + $"and {settings.Repeats} profiled passes at batch {settings.Batch}");
            profiles.Add(Profiler.Run(loaded.Session, settings.Batch, settings.Warmup, settings.Repeats, peaks));
        }
        if (settings.Trace is string tracePath)
        {
            ChromeTrace.Write(tracePath, profiles[0]);
            console.Progress($"wrote the trace to {tracePath} (open it in https://ui.perfetto.dev)");
        }
        if (settings.Plot is string plotPath)
        {
            RooflinePlot.Write(plotPath, profiles[0]);
            console.Progress($"wrote the roofline to {plotPath}");
        }

        if (settings.Format == Output.Json)
        {
            if (profiles.Count == 1)
                Output.WriteJson(console.Out, ProfileJson.From(profiles[0]), DferJson.Default.ProfileJson);
            else Output.WriteJson(console.Out, ProfileComparisonJson.From(profiles),
                DferJson.Default.ProfileComparisonJson);
        }
        else if (profiles.Count == 1) WriteTable(console.Out, profiles[0], settings.Top);
        else WriteComparison(console.Out, profiles);
        return ExitCodes.Ok;
    }

    private static void CheckWritable(string? path, string extension, string option, string? orExtension = null)
    {
        if (path is null) return;
        if (!path.EndsWith(extension, StringComparison.OrdinalIgnoreCase)
            && !(orExtension is not null && path.EndsWith(orExtension, StringComparison.OrdinalIgnoreCase)))
            throw new DferException(
                $"{option} {path}: name a {extension}{(orExtension is null ? "" : $" or {orExtension}")} file");
        string? dir = Path.GetDirectoryName(SharedOptions.FullPath(path));
        if (dir is not null && !Directory.Exists(dir)) throw DferException.ForFile(path, "its folder does not exist");
    }

    private static string[] Row(LayerProfile l, ProfileResult p) =>
    [
        l.Name, l.Op, Output.Fixed(l.Ms, 3), Output.Fixed(100 * l.Ms / p.TotalMs, 1), Output.Fixed(l.Flops / 1e9, 3),
        Output.Fixed(l.ExecutedFlops / 1e9, 3), Output.Fixed(l.Bytes / 1e6, 2), Output.Fixed(l.ExecutedGflopsPerS, 1),
        Output.Fixed(l.GBytesPerS, 2), l.PercentOfRoof(p.Peaks) is double pct ? Output.Fixed(pct, 0) : "-",
        l.Bound(p.Peaks),
    ];

    /// <summary>GFLOP: the op's definition; exec GFLOP: what the kernel executes, which GFLOP/s, %roof and bound
    /// count (<see cref="Footnote"/>).</summary>
    private static readonly string[] Header =
        ["layer", "op", "ms", "%", "GFLOP", "exec GFLOP", "MB", "GFLOP/s", "GB/s", "%roof", "bound"];

    /// <summary>What the FLOP columns count, under the table.</summary>
    public const string Footnote =
        "GFLOP counts each op's definition (PyTorch's counting); exec GFLOP what the backend's kernel executes "
        + "(Winograd's products and transforms, temporal taps skipped where they meet only padding, tiles padded to "
        + "whole rows and channels); GFLOP/s, %roof and bound count the executed FLOPs";

    private static void WriteTable(TextWriter stdout, ProfileResult p, int top)
    {
        stdout.WriteLine($"{p.Model} on {p.Backend} ({p.Device}), batch {p.Batch}, {p.Precision}");
        string peak = p.Peaks.Gflops is double f && p.Peaks.GBytesPerS is double b ? $"{f:0} GFLOP/s, {b:0.#} GB/s"
            : "unknown";
        stdout.WriteLine($"peaks: {peak} ({p.Peaks.Source})");
        stdout.WriteLine();
        var rows = new List<string[]> { Header };
        rows.AddRange(p.Layers.Select(l => Row(l, p)));
        var numeric = new HashSet<int> { 2, 3, 4, 5, 6, 7, 8, 9 };
        Output.WriteTable(stdout, rows, numeric);
        stdout.WriteLine();
        Output.WriteFacts(stdout, new[]
        {
            ("total", $"{p.TotalMs:0.###} ms per pass (median of {p.Repeats})"),
            ("layers", $"{p.LayersMs:0.###} ms ({100 * p.LayersMs / p.TotalMs:0.0} % of the total)"),
            ("between layers",
                $"{p.UncoveredMs:0.###} ms: input checks and upload, output download, the per-layer timing"),
            ("FLOPs", $"{p.Flops / 1e9:0.###} G per pass ({p.Flops / 1e9 / p.Batch:0.###} G per "
                + $"clip), {p.Flops / (p.TotalMs * 1e6):0.#} GFLOP/s over the whole pass"),
            ("executed", $"{p.ExecutedFlops / 1e9:0.###} G per pass ({100.0 * p.ExecutedFlops / p.Flops:0.#} % of the "
                + $"definition's), {p.ExecutedFlops / (p.TotalMs * 1e6):0.#} GFLOP/s over the whole pass"),
        });
        stdout.WriteLine(Footnote);
        if (top > 0)
        {
            stdout.WriteLine();
            stdout.WriteLine($"slowest {Math.Min(top, p.Layers.Count)} layers:");
            var slow = new List<string[]> { Header };
            slow.AddRange(p.Layers.OrderByDescending(l => l.Ms).Take(top).Select(l => Row(l, p)));
            Output.WriteTable(stdout, slow, numeric);
        }
    }

    private static void WriteComparison(TextWriter stdout, List<ProfileResult> profiles)
    {
        var first = profiles[0];
        stdout.WriteLine(
            $"{first.Model}, batch {first.Batch}, {first.Precision}: ms per layer (median of {first.Repeats})");
        foreach (ProfileResult p in profiles) stdout.WriteLine($"  {p.Backend}: {p.Device}");
        stdout.WriteLine();
        var header = new[] { "layer", "op" }.Concat(profiles.Select(p => p.Backend)).ToArray();
        var rows = new List<string[]> { header };
        for (int i = 0; i < first.Layers.Count; i++)
            rows.Add(new[] { first.Layers[i].Name, first.Layers[i].Op }.Concat(
                profiles.Select(p => Output.Fixed(p.Layers[i].Ms, 3))).ToArray());
        rows.Add(new[] { "total", "" }.Concat(profiles.Select(p => Output.Fixed(p.TotalMs, 3))).ToArray());
        Output.WriteTable(stdout, rows, new HashSet<int>(Enumerable.Range(2, profiles.Count)));
    }
}
