using System.Globalization;
using System.Text.Json;
using Spectre.Console;

namespace Dfer.Load;

/// <summary>dfer-load's output: a line per window while it runs, a table at the end, and <c>--json FILE</c>.</summary>
internal static class Report
{
    private static string F(double v, string format = "0.0") =>
        double.IsNaN(v) ? "-" : v.ToString(format, CultureInfo.InvariantCulture);

    private static string Errors(IReadOnlyDictionary<string, long> errors) =>
        errors.Count == 0 ? "0" : string.Join(", ", errors.OrderBy(e => e.Key, StringComparer.Ordinal)
            .Select(e => $"{e.Key}: {e.Value}"));

    private static string Batches(HistogramDiff? batches) =>
        batches is null ? "-" : $"mean {F(batches.Mean, "0.00")} ({batches.Describe(floor: 0)})";

    /// <summary>One window, as printed when it ends.</summary>
    public static string WindowLine(WindowResult w) =>
        $"window {w.Index}: {F(w.Seconds, "0.00")} s, {F(w.RequestsPerSecond, "0.00")} req/s, "
        + $"{F(w.ClipsPerSecond, "0.00")} clips/s, p50 {F(w.P50Ms)} ms, p90 {F(w.P90Ms)} ms, p99 {F(w.P99Ms)} ms, "
        + $"errors {Errors(w.Errors)}, batch sizes {Batches(w.BatchSizes)}";

    /// <summary>The windows and the final row as a table (Spectre.Console; plain columns when redirected).</summary>
    public static void WriteTable(TextWriter stdout, LoadResult result)
    {
        IAnsiConsole console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(stdout),
            Ansi = AnsiSupport.Detect,
            ColorSystem = ColorSystemSupport.Detect,
        });
        if (Console.IsOutputRedirected) console.Profile.Width = 200;
        var table = new Table().Border(TableBorder.Simple);
        foreach (string column in new[] { "window", "s", "req/s", "clips/s", "p50 ms", "p90 ms", "p99 ms", "ok",
            "errors", "server batch sizes" })
            table.AddColumn(new TableColumn(column)
            {
                Alignment = column is "errors" or "server batch sizes"
                ? Justify.Left : Justify.Right
            });
        foreach (WindowResult w in result.Windows) table.AddRow(Row(w.Index.ToString(CultureInfo.InvariantCulture), w));
        string final = result.Windows.Count == 0 ? "final" : result.Stable
            ? $"final ({result.FinalFirstWindow}-{result.Windows.Count})" : $"final (1-{result.Windows.Count})";
        table.AddRow(Row(final, result.Final));
        console.Write(table);
        var s = result.Settings;
        string mode = s.Rate is { } rate ? $"open loop at {F(rate, "0.##")} req/s (at most {s.Concurrency} in flight)"
            : $"closed loop, {s.Concurrency} clients";
        stdout.WriteLine($"{result.Model.Name} over {Name(s.Protocol)}, {mode}, {s.Batch} clip(s) per request; "
            + (result.Stable
                ? $"stabilised: windows {result.FinalFirstWindow}-{result.Windows.Count} within "
                    + $"{Stats.StableTolerance:P0} of their mean throughput"
                : $"did not stabilise in {result.Windows.Count} window(s); the final row is all of them"));
        if (result.MetricsNote is { } note) stdout.WriteLine($"batch sizes: {note}");
    }

    private static string[] Row(string label, WindowResult w) =>
    [
        label, F(w.Seconds, "0.00"), F(w.RequestsPerSecond, "0.00"), F(w.ClipsPerSecond, "0.00"), F(w.P50Ms),
        F(w.P90Ms), F(w.P99Ms), w.Ok.ToString(CultureInfo.InvariantCulture), Markup.Escape(Errors(w.Errors)),
        Markup.Escape(Batches(w.BatchSizes)),
    ];

    /// <summary>The protocol as the option spells it.</summary>
    public static string Name(Protocol p) => p switch
    {
        Protocol.RestJson => "rest-json",
        Protocol.RestBinary => "rest-binary",
        Protocol.Grpc => "grpc",
    };

    /// <summary>Everything of a load run as JSON.</summary>
    public static void WriteJson(Utf8JsonWriter w, LoadResult result)
    {
        var s = result.Settings;
        w.WriteStartObject();
        w.WriteString("mode", "load");
        w.WriteStartObject("settings");
        w.WriteString("protocol", Name(s.Protocol));
        w.WriteString("model", s.Model);
        w.WriteNumber("concurrency", s.Concurrency);
        w.WriteNumber("batch", s.Batch);
        w.WriteNumber("window_s", s.WindowSeconds);
        w.WriteNumber("max_windows", s.MaxWindows);
        w.WriteNumber("duration_s", s.DurationSeconds);
        w.WriteNumber("warmup_s", s.WarmupSeconds);
        if (s.Rate is { } rate) w.WriteNumber("rate", rate);
        else w.WriteNull("rate");
        w.WriteNumber("seed", s.Seed);
        w.WriteEndObject();
        w.WriteStartObject("model_input");
        w.WriteString("name", result.Model.InputName);
        w.WriteString("datatype", result.Model.InputDatatype);
        w.WriteStartArray("shape");
        foreach (long d in result.Model.InputShape) w.WriteNumberValue(d);
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteBoolean("stable", result.Stable);
        w.WriteString("stability_rule", $"last {Stats.StableWindows} windows each within "
            + $"{Stats.StableTolerance:P0} of their mean requests/s");
        w.WriteNumber("final_first_window", result.FinalFirstWindow);
        if (result.MetricsNote is { } note) w.WriteString("metrics_note", note);
        Number(w, "server_rss_bytes", result.ServerRssBytes ?? double.NaN);
        w.WriteStartArray("windows");
        foreach (WindowResult window in result.Windows) Window(w, window);
        w.WriteEndArray();
        w.WritePropertyName("final");
        Window(w, result.Final);
        w.WriteEndObject();
    }

    private static void Number(Utf8JsonWriter w, string name, double v)
    {
        if (double.IsFinite(v)) w.WriteNumber(name, v);
        else w.WriteNull(name);
    }

    private static void Window(Utf8JsonWriter w, WindowResult r)
    {
        w.WriteStartObject();
        w.WriteNumber("index", r.Index);
        Number(w, "seconds", r.Seconds);
        w.WriteNumber("requests", r.Requests);
        w.WriteNumber("ok", r.Ok);
        Number(w, "requests_per_s", r.RequestsPerSecond);
        Number(w, "clips_per_s", r.ClipsPerSecond);
        Number(w, "p50_ms", r.P50Ms);
        Number(w, "p90_ms", r.P90Ms);
        Number(w, "p99_ms", r.P99Ms);
        Number(w, "mean_ms", r.MeanMs);
        Number(w, "max_ms", r.MaxMs);
        w.WriteStartObject("errors");
        foreach (var (kind, n) in r.Errors.OrderBy(e => e.Key, StringComparer.Ordinal)) w.WriteNumber(kind, n);
        w.WriteEndObject();
        if (r.BatchSizes is { } b)
        {
            w.WriteStartObject("batch_sizes");
            w.WriteNumber("count", b.Count);
            Number(w, "sum", b.Sum);
            Number(w, "mean", b.Mean);
            w.WriteStartArray("buckets");
            foreach (var (lower, upper, count) in b.Buckets)
            {
                w.WriteStartObject();
                w.WriteString("range", HistogramDiff.Label(lower, upper));
                if (double.IsFinite(upper)) w.WriteNumber("le", upper);
                else w.WriteString("le", "+Inf");
                w.WriteNumber("count", count);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        else w.WriteNull("batch_sizes");
        w.WriteEndObject();
    }
}
