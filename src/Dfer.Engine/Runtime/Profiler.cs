using System.Diagnostics;
using Dfer.Ops;
using Dfer.Tensors;

namespace Dfer.Runtime;

/// <summary>One layer (op instance of the graph) of a profile: medians over the profiled passes.</summary>
/// <param name="Name">The graph node's name, e.g. <c>features.2.0.conv1</c>.</param>
/// <param name="Op">The op's stable name, e.g. <c>conv3d</c>.</param>
/// <param name="Ms">Median wall time of the layer.</param>
/// <param name="Flops">FLOPs of the op's definition for this input (nominal, PyTorch's counting).</param>
/// <param name="Bytes">Minimum bytes moved (inputs, output, weights once).</param>
/// <param name="ExecutedFlops">FLOPs the backend's kernel executes for this input
/// (<see cref="Session.ExecutedFlops"/>): fewer than <paramref name="Flops"/> for Winograd or skipped padding taps,
/// more where tiles are padded; the nominal count on backends that do not say.</param>
public sealed record LayerProfile(string Name, string Op, double Ms, long Flops, long Bytes, long ExecutedFlops)
{
    /// <summary>The effective rate: nominal FLOPs per second, in G (above the machine's peak where the kernel does
    /// fewer FLOPs than the op's definition).</summary>
    public double GflopsPerS => Ms > 0 ? Flops / (Ms * 1e6) : 0;

    /// <summary>The rate the kernel computes at: executed FLOPs per second, in G; what the roofline compares.</summary>
    public double ExecutedGflopsPerS => Ms > 0 ? ExecutedFlops / (Ms * 1e6) : 0;

    public double GBytesPerS => Ms > 0 ? Bytes / (Ms * 1e6) : 0;

    /// <summary>Executed FLOPs per byte: where the layer sits on the roofline.</summary>
    public double Intensity => Bytes > 0 ? (double)ExecutedFlops / Bytes : double.PositiveInfinity;

    /// <summary>"compute" or "memory" by which roof is lower at this layer's intensity; "-" for a layer that does no
    /// work.</summary>
    public string Bound(DevicePeaks peaks) =>
        ExecutedFlops == 0 && Bytes == 0 ? "-"
        : peaks.Ridge is double ridge ? (Intensity >= ridge ? "compute" : "memory")
        : "unknown";

    /// <summary>Achieved fraction of the roof at this layer's intensity (the attainable rate), in percent, by the
    /// executed FLOPs (so at most about 100: how close the kernel is to the machine); null when the peaks are
    /// unknown.</summary>
    public double? PercentOfRoof(DevicePeaks peaks)
    {
        if (peaks.Gflops is not double f || peaks.GBytesPerS is not double b || ExecutedFlops == 0) return null;
        double attainable = Math.Min(f, b * Intensity);
        return attainable > 0 ? 100 * ExecutedGflopsPerS / attainable : null;
    }
}

/// <summary>A layer's timing in one pass, for the trace.</summary>
public sealed record TraceEvent(string Name, string Op, int Pass, double StartUs, double DurationUs, long Flops,
    long Bytes);

/// <summary>The result of <see cref="Profiler.Run"/>.</summary>
public sealed record ProfileResult(string Model, string Backend, string Device, int Batch, string Precision,
    double TotalMs,
    long Flops, IReadOnlyList<LayerProfile> Layers, DevicePeaks Peaks, IReadOnlyList<TraceEvent> Trace, int Repeats)
{
    /// <summary>Sum of the layers' executed FLOPs (<see cref="LayerProfile.ExecutedFlops"/>).</summary>
    public long ExecutedFlops => Layers.Sum(l => l.ExecutedFlops);

    /// <summary>Sum of the layers' median times.</summary>
    public double LayersMs => Layers.Sum(l => l.Ms);

    /// <summary>Part of the total no layer accounts for: input checks and upload, output download, the timing
    /// itself.</summary>
    public double UncoveredMs => TotalMs - LayersMs;
}

/// <summary>
/// Profiles a session layer by layer: warm-up passes, then <c>repeats</c> passes with the
/// executable's per-node timer on (synchronous: on a GPU each node is waited for), reporting each
/// layer's median time next to its FLOPs (the op's nominal count and what the backend's kernel executes) and minimum
/// bytes. The pass total is measured around the whole <see cref="Session.Run"/>, so layer times add up to it except
/// for what lies between layers.
/// </summary>
public static class Profiler
{
    public static ProfileResult Run(Session session, int batch, int warmup, int repeats, DevicePeaks peaks,
        ulong seed = 7)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);
        float[] clips = new DeterministicRandom(seed).Uniform((long)batch * session.ClipLength, 0f, 1f);
        for (int i = 0; i < warmup; i++) session.Run(clips, batch, "profile input");

        var perNode = new Dictionary<Node, List<double>>();
        var order = new List<Node>();
        var shapes = new Dictionary<Node, int[][]>();
        var trace = new List<TraceEvent>();
        var totals = new double[repeats];
        long origin = Stopwatch.GetTimestamp();
        int pass = 0;
        session.Timer = (node, inputShapes, ms) =>
        {
            if (!perNode.TryGetValue(node, out var times))
            {
                perNode[node] = times = new List<double>();
                order.Add(node);
                shapes[node] = inputShapes;
            }
            times.Add(ms);
            double endUs = Stopwatch.GetElapsedTime(origin).TotalMicroseconds;
            trace.Add(new TraceEvent(node.Name, node.Op.Kind.Name, pass, endUs - ms * 1000, ms * 1000,
                node.Op.Flops(inputShapes), node.Op.Bytes(inputShapes)));
        };
        try
        {
            for (pass = 0; pass < repeats; pass++)
            {
                long start = Stopwatch.GetTimestamp();
                session.Run(clips, batch, "profile input");
                totals[pass] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }
        }
        finally
        {
            session.Timer = null;
        }

        var layers = order.Select(n => new LayerProfile(n.Name, n.Op.Kind.Name, Median(perNode[n]),
            n.Op.Flops(shapes[n]), n.Op.Bytes(shapes[n]), session.ExecutedFlops(n, shapes[n]))).ToList();
        return new ProfileResult(session.Model.Name, session.Backend.Name, session.Backend.Device, batch,
            Backends.BackendRegistry.PrecisionName(session.Backend),
            Median(totals), layers.Sum(l => l.Flops), layers, peaks, trace, repeats);
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
}
