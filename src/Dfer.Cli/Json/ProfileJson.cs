using System.Text.Json.Serialization;
using Dfer.Runtime;

namespace Dfer.Cli.Json;

/// <summary><c>dfer profile --format json</c> of one backend. <c>flops</c> count each op's definition (PyTorch's
/// counting) and <c>gflops_per_s</c> is that count per second (the effective rate); <c>executed_gflop</c> is what the
/// backend's kernels execute (<see cref="LayerProfile.ExecutedFlops"/>), and <c>executed_gflops_per_s</c>,
/// <c>percent_of_roof</c> and <c>bound</c> count it.</summary>
internal sealed record ProfileJson(
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("backend")] string Backend,
    [property: JsonPropertyName("batch")] int Batch,
    [property: JsonPropertyName("precision")] string Precision,
    [property: JsonPropertyName("device")] string Device,
    [property: JsonPropertyName("repeats")] int Repeats,
    [property: JsonPropertyName("total_ms")] double TotalMs,
    [property: JsonPropertyName("layers_ms")] double LayersMs,
    [property: JsonPropertyName("uncovered_ms")] double UncoveredMs,
    [property: JsonPropertyName("uncovered")] string Uncovered,
    [property: JsonPropertyName("flops")] long Flops,
    [property: JsonPropertyName("executed_gflop")] double ExecutedGflop,
    [property: JsonPropertyName("bytes")] long Bytes,
    [property: JsonPropertyName("peaks")] ProfileJson.PeaksJson Peaks,
    [property: JsonPropertyName("layers")] IReadOnlyList<ProfileJson.Layer> Layers)
{
    internal sealed record PeaksJson(
        [property: JsonPropertyName("gflops_per_s")] double? GflopsPerS,
        [property: JsonPropertyName("gbytes_per_s")] double? GBytesPerS,
        [property: JsonPropertyName("source")] string Source);

    internal sealed record Layer(
        [property: JsonPropertyName("name")] string Name,
        [property: JsonPropertyName("op")] string Op,
        [property: JsonPropertyName("ms")] double Ms,
        [property: JsonPropertyName("flops")] long Flops,
        [property: JsonPropertyName("executed_gflop")] double ExecutedGflop,
        [property: JsonPropertyName("bytes")] long Bytes,
        [property: JsonPropertyName("gflops_per_s")] double GflopsPerS,
        [property: JsonPropertyName("executed_gflops_per_s")] double ExecutedGflopsPerS,
        [property: JsonPropertyName("gbytes_per_s")] double GBytesPerS,
        [property: JsonPropertyName("bound")] string Bound,
        [property: JsonPropertyName("percent_of_roof"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        double? PercentOfRoof);

    public static ProfileJson From(ProfileResult p) =>
        new(p.Model, p.Backend, p.Batch, p.Precision, p.Device, p.Repeats, p.TotalMs, p.LayersMs, p.UncoveredMs,
            "input checks and upload, output download and the per-layer timing itself", p.Flops,
            p.ExecutedFlops / 1e9, p.Layers.Sum(l => l.Bytes),
            new PeaksJson(p.Peaks.Gflops, p.Peaks.GBytesPerS, p.Peaks.Source),
            p.Layers.Select(
                l => new Layer(l.Name, l.Op, l.Ms, l.Flops, l.ExecutedFlops / 1e9, l.Bytes, l.GflopsPerS,
                l.ExecutedGflopsPerS, l.GBytesPerS, l.Bound(p.Peaks), l.PercentOfRoof(p.Peaks))).ToList());
}

/// <summary><c>dfer profile --compare B1,B2 --format json</c>: one profile per backend.</summary>
internal sealed record ProfileComparisonJson(
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("batch")] int Batch,
    [property: JsonPropertyName("profiles")] IReadOnlyList<ProfileJson> Profiles)
{
    public static ProfileComparisonJson From(IReadOnlyList<ProfileResult> profiles) =>
        new(profiles[0].Model, profiles[0].Batch, profiles.Select(ProfileJson.From).ToList());
}

/// <summary>
/// A profile as a Chrome trace (the JSON Object Format that Perfetto and chrome://tracing open): one
/// complete ("X") event per layer per pass, times in microseconds, one thread per pass, then the
/// metadata ("M") events that name the process and the threads.
/// </summary>
internal sealed record ChromeTraceJson(
    [property: JsonPropertyName("traceEvents")] IReadOnlyList<ChromeTraceJson.Event> TraceEvents,
    [property: JsonPropertyName("displayTimeUnit")] string DisplayTimeUnit)
{
    /// <summary>An event; the fields an event of its phase lacks are left out.</summary>
    internal sealed record Event(
        [property: JsonPropertyName("name")] string Name,
        [property: JsonPropertyName("cat"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        string? Category,
        [property: JsonPropertyName("ph")] string Phase,
        [property: JsonPropertyName("ts"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        double? Timestamp,
        [property: JsonPropertyName("dur"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        double? Duration,
        [property: JsonPropertyName("pid")] int Pid,
        [property: JsonPropertyName("tid")] int Tid,
        [property: JsonPropertyName("args")] Args Args);

    /// <summary>A layer's op, FLOPs, bytes and pass (X events), or the name a metadata event gives (M
    /// events).</summary>
    internal sealed record Args(
        [property: JsonPropertyName("op"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        string? Op = null,
        [property: JsonPropertyName("flops"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        long? Flops = null,
        [property: JsonPropertyName("bytes"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        long? Bytes = null,
        [property: JsonPropertyName("pass"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        int? Pass = null,
        [property: JsonPropertyName("name"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
        string? Name = null);

    public static ChromeTraceJson From(ProfileResult profile)
    {
        var events = profile.Trace
            .Select(e => new Event(e.Name, e.Op, "X", Math.Round(e.StartUs, 3), Math.Round(e.DurationUs, 3), 1,
            e.Pass + 1,
                new Args(e.Op, e.Flops, e.Bytes, e.Pass)))
            .ToList();
        // Names for the process and its threads in the viewer.
        events.Add(Meta("process_name", 0, $"dfer {profile.Model} on {profile.Backend} (batch {profile.Batch})"));
        for (int pass = 0; pass < profile.Repeats; pass++)
            events.Add(Meta("thread_name", pass + 1, $"pass {pass + 1}"));
        return new ChromeTraceJson(events, "ms");
    }

    private static Event Meta(string name, int tid, string value)
        => new(name, null, "M", null, null, 1, tid, new Args(Name: value));
}
