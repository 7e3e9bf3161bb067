namespace Dfer.Load;

/// <summary>Latency percentiles and the stabilisation rule of a load run (perf/Dfer.Load/README.md).</summary>
internal static class Stats
{
    /// <summary>
    /// The nearest-rank percentile of ascending <paramref name="sorted"/>: the smallest value with at least
    /// <paramref name="p"/> % of the values at or below it (the value of rank ⌈p/100 · n⌉, rank 1 for p = 0).
    /// It is always one of the measured values, never an interpolation. NaN for no values.
    /// </summary>
    public static double Percentile(IReadOnlyList<double> sorted, double p)
    {
        if (p is < 0 or > 100 || double.IsNaN(p)) throw new ArgumentOutOfRangeException(nameof(p));
        if (sorted.Count == 0) return double.NaN;
        // p/100 · n computed as p · n / 100 so that e.g. 90 % of 10 is exactly rank 9.
        int rank = (int)Math.Ceiling(p * sorted.Count / 100.0);
        return sorted[Math.Clamp(rank, 1, sorted.Count) - 1];
    }

    /// <summary>How many consecutive windows must agree, and how closely (as perf_analyzer does).</summary>
    public const int StableWindows = 3;

    /// <summary>The tolerance: each of the last windows within 10 % of their mean throughput.</summary>
    public const double StableTolerance = 0.10;

    /// <summary>
    /// Whether the last <see cref="StableWindows"/> throughputs agree: each within <paramref name="tolerance"/>
    /// (a fraction) of their mean, and the mean above zero. Fewer windows than that are not stable.
    /// </summary>
    public static bool IsStable(IReadOnlyList<double> throughputs, int windows = StableWindows,
        double tolerance = StableTolerance)
    {
        if (throughputs.Count < windows) return false;
        double mean = 0;
        for (int i = throughputs.Count - windows; i < throughputs.Count; i++) mean += throughputs[i];
        mean /= windows;
        if (!(mean > 0)) return false;
        for (int i = throughputs.Count - windows; i < throughputs.Count; i++)
            if (Math.Abs(throughputs[i] - mean) > tolerance * mean) return false;
        return true;
    }
}

/// <summary>The latencies and outcomes of the requests that ended within one measurement window.</summary>
internal sealed class WindowRecorder
{
    private readonly object _gate = new();
    private readonly List<double> _latenciesMs = [];
    private readonly Dictionary<string, long> _errors = new(StringComparer.Ordinal);
    private long _ok;

    /// <summary>A request that succeeded after <paramref name="latencyMs"/>.</summary>
    public void Ok(double latencyMs)
    {
        lock (_gate)
        {
            _ok++;
            _latenciesMs.Add(latencyMs);
        }
    }

    /// <summary>A request that failed with <paramref name="kind"/> (e.g. <c>http 429</c>).</summary>
    public void Error(string kind)
    {
        lock (_gate) _errors[kind] = _errors.GetValueOrDefault(kind) + 1;
    }

    /// <summary>What was recorded, as of now.</summary>
    public (long Ok, double[] LatenciesMs, Dictionary<string, long> Errors) Snapshot()
    {
        lock (_gate) return (_ok, _latenciesMs.ToArray(), new Dictionary<string, long>(_errors));
    }
}

/// <summary>One measurement window's numbers (or the final aggregate of several).</summary>
internal sealed record WindowResult(
    int Index, double Seconds, long Requests, long Ok, double RequestsPerSecond, double ClipsPerSecond,
    double P50Ms, double P90Ms, double P99Ms, double MeanMs, double MaxMs,
    IReadOnlyDictionary<string, long> Errors, HistogramDiff? BatchSizes)
{
    /// <summary>The numbers of <paramref name="latenciesMs"/> and counts over <paramref name="seconds"/>.</summary>
    public static WindowResult From(int index, double seconds, long ok, double[] latenciesMs,
        IReadOnlyDictionary<string, long> errors, int clipsPerRequest, HistogramDiff? batchSizes)
    {
        Array.Sort(latenciesMs);
        long failed = errors.Values.Sum();
        return new WindowResult(index, seconds, ok + failed, ok,
            ok / seconds, ok * (double)clipsPerRequest / seconds,
            Stats.Percentile(latenciesMs, 50), Stats.Percentile(latenciesMs, 90), Stats.Percentile(latenciesMs, 99),
            latenciesMs.Length == 0 ? double.NaN : latenciesMs.Average(),
            latenciesMs.Length == 0 ? double.NaN : latenciesMs[^1],
            errors, batchSizes);
    }
}
