using System.Globalization;
using System.Text;

namespace Dfer.Load;

/// <summary>One sample of the Prometheus text exposition format: a name, its labels and a value.</summary>
internal sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

/// <summary>
/// A reader of the Prometheus text exposition format (version 0.0.4), as prometheus-net writes <c>/metrics</c>:
/// <c># HELP</c>/<c># TYPE</c> comments, then lines <c>name{label="value",...} value [timestamp]</c>; label values
/// escape <c>\\</c>, <c>\"</c> and <c>\n</c>; values may be <c>+Inf</c>, <c>-Inf</c> or <c>NaN</c>.
/// </summary>
internal static class PrometheusText
{
    /// <summary>The most of <c>/metrics</c> read (a server's exposition is kilobytes).</summary>
    public const int MaxBytes = 16 << 20;

    /// <summary>Every sample of <paramref name="text"/>; a line that is not one throws <see cref="FormatException"/>
    /// naming its number.</summary>
    public static List<Sample> Parse(string text)
    {
        var samples = new List<Sample>();
        int number = 0;
        foreach (string raw in text.Split('\n'))
        {
            number++;
            string line = raw.TrimEnd('\r').Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            samples.Add(ParseLine(line) ?? throw new FormatException(
                $"metrics line {number}: not a sample: {(line.Length <= 80 ? line : line[..80] + "…")}"));
        }
        return samples;
    }

    private static Sample? ParseLine(string line)
    {
        int i = 0;
        while (i < line.Length && (char.IsAsciiLetterOrDigit(line[i]) || line[i] is '_' or ':')) i++;
        if (i == 0 || char.IsAsciiDigit(line[0])) return null;
        string name = line[..i];
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (i < line.Length && line[i] == '{')
        {
            i++;
            while (true)
            {
                while (i < line.Length && line[i] is ' ' or '\t') i++;
                if (i < line.Length && line[i] == '}')
                {
                    i++;
                    break;
                }
                int start = i;
                while (i < line.Length && (char.IsAsciiLetterOrDigit(line[i]) || line[i] == '_')) i++;
                if (i == start || i + 1 >= line.Length || line[i] != '=' || line[i + 1] != '"') return null;
                string label = line[start..i];
                i += 2;
                var value = new StringBuilder();
                while (true)
                {
                    if (i >= line.Length) return null;
                    char c = line[i++];
                    if (c == '"') break;
                    if (c != '\\')
                    {
                        value.Append(c);
                        continue;
                    }
                    if (i >= line.Length) return null;
                    char escaped = line[i++];
                    value.Append(escaped switch { 'n' => '\n', '\\' => '\\', '"' => '"', _ => '\0' });
                    if (escaped is not ('n' or '\\' or '"')) return null;
                }
                if (!labels.TryAdd(label, value.ToString())) return null;
                while (i < line.Length && line[i] is ' ' or '\t') i++;
                if (i < line.Length && line[i] == ',') i++;
                else if (i >= line.Length || line[i] != '}') return null;
            }
        }
        string[] rest = line[i..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (rest.Length is < 1 or > 2 || !TryValue(rest[0], out double sampleValue)) return null;
        if (rest.Length == 2 && !long.TryParse(rest[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture,
            out _)) return null;
        return new Sample(name, labels, sampleValue);
    }

    /// <summary>A sample value or bucket bound: a float, <c>+Inf</c>, <c>-Inf</c> or <c>NaN</c>.</summary>
    public static bool TryValue(string text, out double value)
    {
        switch (text)
        {
            case "+Inf" or "Inf":
                value = double.PositiveInfinity;
                return true;
            case "-Inf":
                value = double.NegativeInfinity;
                return true;
            case "NaN":
                value = double.NaN;
                return true;
        }
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value)
            && double.IsFinite(value);
    }

    /// <summary>
    /// The histogram <paramref name="name"/> (its <c>_bucket</c>, <c>_sum</c> and <c>_count</c> series) summed over
    /// every series whose labels include <paramref name="filter"/>; null when there is none.
    /// </summary>
    public static Histogram? Histogram(IEnumerable<Sample> samples, string name,
        IReadOnlyDictionary<string, string> filter)
    {
        var buckets = new SortedDictionary<double, double>();
        double sum = 0, count = 0;
        bool any = false;
        foreach (Sample s in samples)
        {
            if (!filter.All(f => s.Labels.TryGetValue(f.Key, out string? v) && v == f.Value)) continue;
            if (s.Name == name + "_bucket")
            {
                if (!s.Labels.TryGetValue("le", out string? le) || !TryValue(le, out double bound)
                    || double.IsNaN(bound))
                    throw new FormatException($"metrics: {name}_bucket without a valid le label");
                buckets[bound] = buckets.GetValueOrDefault(bound) + s.Value;
                any = true;
            }
            else if (s.Name == name + "_sum") sum += s.Value;
            else if (s.Name == name + "_count") count += s.Value;
        }
        if (!any) return null;
        return new Histogram(buckets.Select(b => (b.Key, b.Value)).ToArray(), sum, count);
    }

    /// <summary>The value of the first sample named <paramref name="name"/>, or null.</summary>
    public static double? Gauge(IEnumerable<Sample> samples, string name) =>
        samples.FirstOrDefault(s => s.Name == name)?.Value;
}

/// <summary>A Prometheus histogram as scraped: cumulative bucket counts by upper bound (ascending), sum and
/// count.</summary>
internal sealed record Histogram((double UpperBound, double Cumulative)[] Buckets, double Sum, double Count)
{
    /// <summary>
    /// What happened between <paramref name="before"/> and this scrape: per bucket, the observations that fell in
    /// it (not cumulative). The two must have the same bounds (a restarted server or changed buckets cannot be
    /// diffed); a count going down means the server restarted.
    /// </summary>
    public HistogramDiff Minus(Histogram before)
    {
        if (before.Buckets.Length != Buckets.Length
            || before.Buckets.Zip(Buckets).Any(p => p.First.UpperBound != p.Second.UpperBound))
            throw new FormatException("metrics: the histogram's buckets changed between two scrapes");
        var counts = new (double Lower, double Upper, long Count)[Buckets.Length];
        double previousLower = double.NegativeInfinity, previousDelta = 0;
        for (int i = 0; i < Buckets.Length; i++)
        {
            double delta = Buckets[i].Cumulative - before.Buckets[i].Cumulative;
            if (delta < 0 || delta < previousDelta)
                throw new FormatException("metrics: the histogram's counts went down (did the server restart?)");
            counts[i] = (previousLower, Buckets[i].UpperBound, (long)Math.Round(delta - previousDelta));
            previousLower = Buckets[i].UpperBound;
            previousDelta = delta;
        }
        double count = Count - before.Count;
        if (count < 0) throw new FormatException("metrics: the histogram's count went down (did the server restart?)");
        return new HistogramDiff(counts, Sum - before.Sum, (long)Math.Round(count));
    }
}

/// <summary>Observations per bucket (lower bound exclusive, upper inclusive), their sum and count.</summary>
internal sealed record HistogramDiff((double Lower, double Upper, long Count)[] Buckets, double Sum, long Count)
{
    /// <summary>The mean observation (sum / count); NaN for none.</summary>
    public double Mean => Count == 0 ? double.NaN : Sum / Count;

    /// <summary>
    /// A bucket as a range of integer batch sizes: <c>3-4</c> for (2, 4], <c>1</c> for (0, 1], <c>≤1</c> for
    /// (-∞, 1], <c>&gt;8</c> for (8, +∞]; non-integer bounds as <c>(a, b]</c>.
    /// </summary>
    public static string Label(double lower, double upper)
    {
        static string F(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);
        if (double.IsPositiveInfinity(upper)) return double.IsNegativeInfinity(lower) ? "all" : $">{F(lower)}";
        if (double.IsNegativeInfinity(lower)) return $"<={F(upper)}";
        if (lower == Math.Floor(lower) && upper == Math.Floor(upper))
            return upper == lower + 1 ? F(upper) : $"{F(lower + 1)}-{F(upper)}";
        return $"({F(lower)}, {F(upper)}]";
    }

    /// <summary>The non-empty buckets as <c>label:count</c>, e.g. <c>1:12 2:30 3-4:5</c>; no observation is below
    /// <paramref name="floor"/> (0 for batch sizes, so the first bucket (-∞, 1] reads <c>1</c>).</summary>
    public string Describe(double floor = double.NegativeInfinity) =>
        Count == 0 ? "none"
            : string.Join(' ', Buckets.Where(b => b.Count > 0)
                .Select(b => $"{Label(Math.Max(b.Lower, Math.Min(floor, b.Upper)), b.Upper)}:{b.Count}"));
}
