using Dfer.Models;
using Dfer.Runtime;

namespace Dfer.Perf;

/// <summary>
/// `--scaling`: M3DFEL's CPU work partitioned for 2 to 32 threads by the kernels' own partitioning code and the pool's
/// claiming replayed (<see cref="ThreadScaling"/>; docs/performance.md, "Thread scaling"). Nothing is timed: the
/// efficiencies are ideal time over modelled time, per layer and for the whole pass.
/// </summary>
internal static class ScalingReport
{
    private static readonly int[] Threads = [2, 4, 8, 16, 32];
    private static readonly int[] Modelled = [1, .. Threads];
    private static readonly int[] Shown = [4, 8, 16, 32];

    public static void Run(IReadOnlyList<int> batches)
    {
        var model = new M3dfel();
        var graph = model.Build(model.GenerateWeights(1));
        foreach (int batch in batches) Print(graph, [batch, .. model.ClipShape], batch);
    }

    private static void Print(Dfer.Ops.Graph graph, int[] input, int batch)
    {
        var plans = Modelled.ToDictionary(t => t, t => ThreadScaling.Plan(graph, input, t));
        var nodes = plans[32];
        double total = plans[1].Sum(n => n.Total);
        Console.WriteLine($"\nM3DFEL, batch {batch} ({batch * 4} instances): {total / 1e9:F2} G units of work on 1 "
            + "thread (a unit is a multiply-add)");
        Console.WriteLine("items as cut for each thread count; Mu: 10^6 units; wts: weights the items stream on 32 "
            + "threads over 1; eff: time on 1 thread / (threads x time)");
        Console.WriteLine($"{"node",-24} {"kernel",-13} {"work",6} {"items at 4/8/16/32",-19} {"Mu/item at 32",-14}"
            + $" {"wts",5}" + string.Concat(Threads.Select(t => $" {"eff" + t,6}")));
        for (int i = 0; i < nodes.Count; i++)
        {
            var n = nodes[i];
            if (n.Total == 0) continue;
            var pools = n.Phases.Where(p => !p.Serial).ToList();
            string items = pools.Count switch
            {
                0 => "serial",
                1 => string.Join("/", Shown.Select(t => plans[t][i].Phases.Single(p => !p.Serial).Costs.Length)),
                _ => $"{pools.Count} dispatches",
            };
            string range = pools.Count switch
            {
                0 => $"{n.Total / 1e6:G3}",
                1 => $"{pools[0].Costs.Min() / 1e6:G3}-{pools[0].Costs.Max() / 1e6:G3}",
                _ => $"<= {pools.Max(p => p.Costs.Max()) / 1e6:G3}",
            };
            long weights = plans[1][i].Phases.Sum(p => p.WeightFloats);
            string streamed = weights == 0 ? "" : $"{(double)n.Phases.Sum(p => p.WeightFloats) / weights:F1}x";
            Console.WriteLine($"{n.Node,-24} {n.Kernel,-13} {100 * plans[1][i].Total / total,5:F1}% {items,-19} "
                + $"{range,-14} {streamed,5}" + string.Concat(Threads.Select(t =>
                    $" {100.0 * plans[1][i].Total / ((double)t * plans[t][i].Makespan(t)),5:F0}%")));
        }
        Console.WriteLine($"{"whole model (Amdahl)",-24} {"",-13} {100,5:F0}% {"",-19} {"",-14} {"",5}"
            + string.Concat(Threads.Select(t => $" {100 * Speedup(plans, t) / t,5:F0}%")));
        Console.WriteLine($"{"  speed-up over 1 thread",-84}"
            + string.Concat(Threads.Select(t => $" {Speedup(plans, t),6:F1}")));

        Console.WriteLine("serial on the calling thread, whatever the thread count:");
        foreach (var group in nodes.SelectMany(n => n.Phases.Where(p => p.Serial).Select(p => (n.Node, p)))
                     .GroupBy(s => s.Node))
            Console.WriteLine($"  {group.Key,-22} {group.Count(),3} stretch(es) {group.Sum(s => s.p.Total) / 1e6,9:F2} "
                + $"Mu  {100 * group.Sum(s => s.p.Total) / total,6:F3}% of the work");
        var single = nodes.SelectMany(n => n.Phases.Where(p => !p.Serial && p.Costs.Length == 1).Select(p => n.Node))
            .GroupBy(s => s).Select(g => g.Count() > 1 ? $"{g.Key} x{g.Count()}" : g.Key).ToList();
        if (single.Count > 0) Console.WriteLine($"  one-item dispatches (serial too): {string.Join(", ", single)}");
        double serial = nodes.Sum(n => n.Phases.Where(p => p.Serial || p.Costs.Length == 1).Sum(p => p.Total));
        Console.WriteLine($"  serial share {100 * serial / total:F3}%: Amdahl's bound at 32 threads "
            + $"{100 / (serial / total * 32 + (1 - serial / total)):F1}% efficiency");
        Console.WriteLine($"pool dispatches per pass: {nodes.Sum(n => n.Phases.Count(p => !p.Serial))} "
            + "(each wakes the workers; that latency, memory bandwidth and caches are not modelled)");
    }

    /// <summary>Sum of the layers' times on 1 thread over their sum on <paramref name="threads"/>.</summary>
    private static double Speedup(Dictionary<int, IReadOnlyList<NodeWork>> plans, int threads) =>
        plans[1].Sum(n => (double)n.Makespan(1)) / plans[threads].Sum(n => (double)n.Makespan(threads));
}
