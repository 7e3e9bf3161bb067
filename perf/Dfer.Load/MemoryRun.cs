using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Dfer.Load;

/// <summary>The outcome of --memory-run: RSS samples, the ratio end / after warm-up, and the faults' tally.</summary>
internal sealed record MemoryResult(
    double Minutes, double WarmupSeconds, double RssAfterWarmup, double RssAtEnd, double SettleSeconds,
    double RssSettled, double RssMax, IReadOnlyList<(double Seconds, double Rss)> Samples, long ValidOk,
    IReadOnlyDictionary<string, long> ValidErrors, IReadOnlyList<(string Fault, int Pass, int Fail)> Faults,
    double? MaxRatio)
{
    /// <summary>Memory after the run (once the server has been idle <see cref="SettleSeconds"/>) over memory after
    /// the warm-up.</summary>
    public double Ratio => RssSettled / RssAfterWarmup;

    /// <summary>Memory the moment the load stops over memory after the warm-up: it lands wherever the last burst's
    /// garbage stands.</summary>
    public double EndRatio => RssAtEnd / RssAfterWarmup;

    public bool Pass => Faults.All(f => f.Fail == 0) && (MaxRatio is not { } max || Ratio <= max);
}

/// <summary>
/// --memory-run: valid requests from --concurrency closed-loop clients for the whole run, the faults cycling beside
/// them after the warm-up (a fifth of the run, at most 30 s), the server's RSS
/// (<c>process_resident_memory_bytes</c> of /metrics) sampled every 5 s. The ratio is RSS after the run over RSS after
/// the warm-up, "after the run" being once the server has been idle <c>settle</c> seconds: the moment the load stops
/// lands anywhere between a burst and the collection that follows it, which a server makes on its own schedule.
/// </summary>
internal sealed class MemoryRun(Server server, FaultRunner faults, TextWriter progress)
{
    public async Task<MemoryResult> RunAsync(ModelInfo model, Protocol protocol, int concurrency, ulong seed,
        double minutes, double settle, double? maxRatio, CancellationToken cancel)
    {
        if (server.Http is null)
            throw new LoadException("--memory-run reads the server's RSS from /metrics: give --url");
        double total = minutes * 60, warmup = Math.Min(30, total / 5);
        var call = new InferCall(server, protocol, model, 1, ClipData.Generate(seed + 1, model.ElementsPerClip));
        var recorder = new WindowRecorder();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        bool stopping = false;
        var clock = Stopwatch.StartNew();
        Task[] workers = Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            while (!Volatile.Read(ref stopping))
            {
                long start = Stopwatch.GetTimestamp();
                Outcome o = await call.SendAsync(stop.Token).ConfigureAwait(false);
                if (o.Error is null) recorder.Ok(InferCall.Since(start));
                else recorder.Error(o.Error);
            }
        })).ToArray();

        var samples = new List<(double, double)>();
        async Task<double> RssAsync()
        {
            var metrics = await server.MetricsAsync(cancel).ConfigureAwait(false);
            double rss = PrometheusText.Gauge(metrics!, "process_resident_memory_bytes")
                ?? throw new LoadException("/metrics has no process_resident_memory_bytes");
            lock (samples) samples.Add((clock.Elapsed.TotalSeconds, rss));
            return rss;
        }

        await Task.Delay(TimeSpan.FromSeconds(warmup), cancel).ConfigureAwait(false);
        double first = await RssAsync().ConfigureAwait(false);
        progress.WriteLine($"memory run: RSS after {warmup:0.#} s of warm-up {first / (1 << 20):0.0} MiB");
        using var sampling = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        Task sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                await Task.Delay(5000, sampling.Token).ConfigureAwait(false);
                await RssAsync().ConfigureAwait(false);
            }
        }, sampling.Token);

        var tally = new Dictionary<string, (int Pass, int Fail)>(StringComparer.Ordinal);
        var list = faults.Faults();
        for (int i = 0; clock.Elapsed.TotalSeconds < total; i = (i + 1) % list.Count)
        {
            FaultResult r = await faults.RunAsync(list[i], cancel, failuresOnly: true).ConfigureAwait(false);
            var (pass, fail) = tally.GetValueOrDefault(r.Name);
            tally[r.Name] = r.Pass ? (pass + 1, fail) : (pass, fail + 1);
        }
        await sampling.CancelAsync().ConfigureAwait(false);
        try
        {
            await sampler.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        Volatile.Write(ref stopping, true);
        stop.CancelAfter(server.Timeout);
        try
        {
            await Task.WhenAll(workers).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        double last = await RssAsync().ConfigureAwait(false);
        progress.WriteLine($"memory run: load over, RSS {last / (1 << 20):0.0} MiB; idle for {settle:0.#} s");
        var idle = Stopwatch.StartNew();
        double settled = last;
        while (idle.Elapsed.TotalSeconds < settle)
        {
            await Task.Delay(TimeSpan.FromSeconds(Math.Min(5, settle - idle.Elapsed.TotalSeconds)), cancel)
                .ConfigureAwait(false);
            settled = await RssAsync().ConfigureAwait(false);
        }
        var (ok, _, errors) = recorder.Snapshot();
        return new MemoryResult(minutes, warmup, first, last, settle, settled, samples.Max(s => s.Item2), samples, ok,
            errors, tally.Select(t => (t.Key, t.Value.Pass, t.Value.Fail)).ToList(), maxRatio);
    }

    public static void Write(TextWriter stdout, MemoryResult r)
    {
        static string MiB(double b) => (b / (1 << 20)).ToString("0.0", CultureInfo.InvariantCulture) + " MiB";
        foreach (var (fault, pass, fail) in r.Faults)
            stdout.WriteLine($"{(fail == 0 ? "PASS" : "FAIL")}  {fault}: {pass} passed, {fail} failed");
        string errors = r.ValidErrors.Count == 0 ? "none"
            : string.Join(", ", r.ValidErrors.Select(e => $"{e.Key}: {e.Value}"));
        stdout.WriteLine($"valid requests: {r.ValidOk} answered, errors {errors}");
        static string Ratio(double x) => x.ToString("0.000", CultureInfo.InvariantCulture);
        stdout.WriteLine($"server RSS: {MiB(r.RssAfterWarmup)} after warm-up, {MiB(r.RssAtEnd)} when the load "
            + $"stopped (ratio {Ratio(r.EndRatio)}), {MiB(r.RssSettled)} after {r.SettleSeconds:0.#} s idle, max "
            + $"{MiB(r.RssMax)}; ratio {Ratio(r.Ratio)}"
            + (r.MaxRatio is { } max ? $" (limit {max.ToString(CultureInfo.InvariantCulture)})" : ""));
    }

    public static void WriteJson(Utf8JsonWriter w, MemoryResult r, IReadOnlyList<FaultResult> before)
    {
        w.WriteStartObject();
        w.WriteString("mode", "memory-run");
        w.WriteNumber("minutes", r.Minutes);
        w.WriteNumber("warmup_s", r.WarmupSeconds);
        w.WriteNumber("rss_after_warmup_bytes", r.RssAfterWarmup);
        w.WriteNumber("rss_at_end_bytes", r.RssAtEnd);
        w.WriteNumber("settle_s", r.SettleSeconds);
        w.WriteNumber("rss_settled_bytes", r.RssSettled);
        w.WriteNumber("rss_max_bytes", r.RssMax);
        w.WriteNumber("rss_end_ratio", r.EndRatio);
        w.WriteNumber("rss_ratio", r.Ratio);
        if (r.MaxRatio is { } max) w.WriteNumber("max_rss_ratio", max);
        w.WriteBoolean("pass", r.Pass && before.All(b => b.Pass));
        w.WriteStartArray("rss_samples");
        foreach (var (s, rss) in r.Samples)
        {
            w.WriteStartObject();
            w.WriteNumber("s", Math.Round(s, 3));
            w.WriteNumber("bytes", rss);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteNumber("valid_ok", r.ValidOk);
        w.WriteStartObject("valid_errors");
        foreach (var (k, v) in r.ValidErrors) w.WriteNumber(k, v);
        w.WriteEndObject();
        w.WriteStartArray("faults");
        foreach (var (fault, pass, fail) in r.Faults)
        {
            w.WriteStartObject();
            w.WriteString("name", fault);
            w.WriteNumber("pass", pass);
            w.WriteNumber("fail", fail);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WritePropertyName("checks");
        FaultJson(w, before);
        w.WriteEndObject();
    }

    /// <summary>Fault lines as a JSON array.</summary>
    public static void FaultJson(Utf8JsonWriter w, IEnumerable<FaultResult> results)
    {
        w.WriteStartArray();
        foreach (FaultResult f in results)
        {
            w.WriteStartObject();
            w.WriteString("name", f.Name);
            w.WriteString("expected", f.Expected);
            w.WriteString("got", f.Got);
            w.WriteString("after", f.After);
            w.WriteBoolean("pass", f.Pass);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }
}
