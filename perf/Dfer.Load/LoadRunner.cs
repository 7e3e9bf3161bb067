using System.Diagnostics;

namespace Dfer.Load;

/// <summary>What a load run does (the options of perf/Dfer.Load/README.md, "Load").</summary>
internal sealed record LoadSettings(
    Protocol Protocol, string Model, int Concurrency, int Batch, double WindowSeconds, int MaxWindows,
    double DurationSeconds, double WarmupSeconds, double? Rate, ulong Seed);

/// <summary>The outcome of a load run: every window, the final aggregate and whether throughput stabilised.</summary>
internal sealed record LoadResult(
    LoadSettings Settings, ModelInfo Model, IReadOnlyList<WindowResult> Windows, WindowResult Final,
    int FinalFirstWindow, bool Stable, string? MetricsNote, double? ServerRssBytes);

/// <summary>
/// Closed-loop load (each of --concurrency clients sends its next request when the previous answer arrives) or
/// open-loop load (--rate requests a second on a fixed schedule, whatever the answers), measured in windows until
/// three consecutive windows agree on throughput (<see cref="Stats.IsStable"/>), --max-windows or --duration.
/// A request counts in the window in which it ends; an open-loop request's latency starts at its scheduled time, so
/// a server that falls behind is charged for the wait (no coordinated omission).
/// </summary>
internal sealed class LoadRunner(Server server, LoadSettings settings, TextWriter progress)
{
    private volatile WindowRecorder _current = new();
    private volatile bool _stopping;
    private readonly CancellationTokenSource _abort = new();

    public async Task<LoadResult> RunAsync(ModelInfo model, CancellationToken cancel)
    {
        float[] data = ClipData.Generate(settings.Seed, checked(model.ElementsPerClip * settings.Batch));
        var call = new InferCall(server, settings.Protocol, model, settings.Batch, data);

        // One request first: a server that refuses every request is a setup problem, not a load result.
        Outcome first = await call.SendAsync(cancel).ConfigureAwait(false);
        if (first.Error is not null)
            throw new LoadException($"the first request failed: {first.Error}: {first.Detail}");

        var runClock = Stopwatch.StartNew();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancel, _abort.Token);
        Task load = settings.Rate is { } rate
            ? OpenLoopAsync(call, rate, linked.Token) : ClosedLoopAsync(call, linked.Token);

        var windows = new List<WindowResult>();
        var boundaries = new List<Histogram?>();
        var latencies = new List<double[]>();
        var counts = new List<(long Ok, Dictionary<string, long> Errors)>();
        string? metricsNote = null;
        double? rss = null;
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(settings.WarmupSeconds), cancel).ConfigureAwait(false);
            (Histogram? before, metricsNote, _) = await ScrapeAsync(model.Name, cancel).ConfigureAwait(false);
            boundaries.Add(before);
            _current = new WindowRecorder();
            long windowStart = Stopwatch.GetTimestamp();
            for (int k = 1; k <= settings.MaxWindows; k++)
            {
                await Task.Delay(TimeSpan.FromSeconds(settings.WindowSeconds), cancel).ConfigureAwait(false);
                WindowRecorder ended = _current;
                _current = new WindowRecorder();
                long now = Stopwatch.GetTimestamp();
                double seconds = Stopwatch.GetElapsedTime(windowStart, now).TotalSeconds;
                windowStart = now;
                (Histogram? after, string? note, double? windowRss) = await ScrapeAsync(model.Name, cancel)
                    .ConfigureAwait(false);
                metricsNote ??= note;
                rss = windowRss ?? rss;
                boundaries.Add(after);
                var (ok, lat, errors) = ended.Snapshot();
                latencies.Add(lat);
                counts.Add((ok, errors));
                HistogramDiff? batches = Diff(after, boundaries[^2], ref metricsNote);
                var window = WindowResult.From(k, seconds, ok, (double[])lat.Clone(), errors, settings.Batch, batches);
                windows.Add(window);
                progress.WriteLine(Report.WindowLine(window));
                if (Stats.IsStable(windows.Select(w => w.RequestsPerSecond).ToList())) break;
                if (runClock.Elapsed.TotalSeconds + settings.WindowSeconds > settings.DurationSeconds) break;
            }
        }
        finally
        {
            // Let requests in flight end (their answers are not counted), then cut the rest.
            _stopping = true;
            _abort.CancelAfter(server.Timeout);
            try
            {
                await load.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }

        bool stable = Stats.IsStable(windows.Select(w => w.RequestsPerSecond).ToList());
        // perf_analyzer's report: the stable windows when there are; otherwise every window.
        int from = stable ? windows.Count - Stats.StableWindows : 0;
        double totalSeconds = windows.Skip(from).Sum(w => w.Seconds);
        long totalOk = counts.Skip(from).Sum(c => c.Ok);
        double[] all = latencies.Skip(from).SelectMany(l => l).ToArray();
        var allErrors = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (_, errors) in counts.Skip(from))
            foreach (var (kind, n) in errors) allErrors[kind] = allErrors.GetValueOrDefault(kind) + n;
        string? ignored = null;
        HistogramDiff? finalBatches = Diff(boundaries[^1], boundaries[from], ref ignored);
        WindowResult final = WindowResult.From(0, totalSeconds, totalOk, all, allErrors, settings.Batch, finalBatches);
        return new LoadResult(settings, model, windows, final, from + 1, stable, metricsNote, rss);
    }

    private static HistogramDiff? Diff(Histogram? after, Histogram? before, ref string? note)
    {
        if (after is null || before is null) return null;
        try
        {
            return after.Minus(before);
        }
        catch (FormatException ex)
        {
            note ??= ex.Message;
            return null;
        }
    }

    /// <summary>dfer_batch_size{model=...} and the server's RSS now; a note instead when /metrics lacks them.</summary>
    private async Task<(Histogram?, string?, double?)> ScrapeAsync(string model, CancellationToken cancel)
    {
        if (server.Http is null) return (null, "no --url: batch sizes are read from the REST port's /metrics", null);
        List<Sample>? samples;
        try
        {
            samples = await server.MetricsAsync(cancel).ConfigureAwait(false);
        }
        catch (LoadException ex)
        {
            return (null, ex.Message, null);
        }
        if (samples is null) return (null, null, null);
        Histogram? h = PrometheusText.Histogram(samples, "dfer_batch_size",
            new Dictionary<string, string> { ["model"] = model });
        return (h, h is null ? $"/metrics has no dfer_batch_size{{model=\"{model}\"}}" : null,
            PrometheusText.Gauge(samples, "process_resident_memory_bytes"));
    }

    private async Task ClosedLoopAsync(InferCall call, CancellationToken cancel)
    {
        var workers = new Task[settings.Concurrency];
        for (int i = 0; i < workers.Length; i++)
        {
            workers[i] = Task.Run(async () =>
            {
                while (!_stopping)
                {
                    long start = Stopwatch.GetTimestamp();
                    Outcome outcome = await call.SendAsync(cancel).ConfigureAwait(false);
                    Record(_current, outcome, start);
                }
            }, cancel);
        }
        await Task.WhenAll(workers).ConfigureAwait(false);
    }

    private async Task OpenLoopAsync(InferCall call, double rate, CancellationToken cancel)
    {
        using var inFlight = new SemaphoreSlim(settings.Concurrency);
        var running = new List<Task>();
        long origin = Stopwatch.GetTimestamp();
        for (long i = 0; !_stopping; i++)
        {
            // The i-th request is due i/rate seconds after the start, whether or not earlier ones have answered.
            long due = origin + (long)(i / rate * Stopwatch.Frequency);
            TimeSpan wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
            if (wait > TimeSpan.Zero) await Task.Delay(wait, cancel).ConfigureAwait(false);
            if (_stopping) break;
            if (!inFlight.Wait(0))
            {
                // --concurrency requests already wait for answers: this one is not sent, and counted.
                _current.Error("client limit");
                continue;
            }
            running.RemoveAll(t => t.IsCompleted);
            running.Add(Task.Run(async () =>
            {
                try
                {
                    Outcome outcome = await call.SendAsync(cancel).ConfigureAwait(false);
                    Record(_current, outcome, due);
                }
                finally
                {
                    inFlight.Release();
                }
            }, cancel));
        }
        await Task.WhenAll(running).ConfigureAwait(false);
    }

    private static void Record(WindowRecorder window, Outcome outcome, long start)
    {
        if (outcome.Error is null) window.Ok(InferCall.Since(start));
        else window.Error(outcome.Error);
    }
}
