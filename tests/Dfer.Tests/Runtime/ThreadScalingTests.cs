using Dfer.Backends.Cpu;
using Dfer.Devices.Cpu;
using Dfer.Models;
using Dfer.Ops;
using Dfer.Runtime;
using Dfer.Tensors;

namespace Dfer.Tests.Runtime;

/// <summary>The thread-scaling model (docs/performance.md, "Thread scaling"): the pool's claiming replayed on
/// hand-made costs, and the model's dispatches against a real pass's.</summary>
[TestFixture]
public class ThreadScalingTests
{
    [Test]
    public void Makespan_ReplaysGreedyClaimingInIndexOrder()
    {
        // 2 threads on [5, 3, 3, 2, 2, 1]: A 0-5, B 0-3, B 3-6, A 5-7, B 6-8, A 7-8: 8, the ideal 16 / 2.
        Assert.That(ThreadScaling.Makespan([5, 3, 3, 2, 2, 1], 2), Is.EqualTo(8));
        // The long item last: four threads finish the unit items at 1, one of them then takes the 8: 9.
        Assert.That(ThreadScaling.Makespan([1, 1, 1, 1, 8], 4), Is.EqualTo(9));
        // The long item first: it runs from 0 while the others share the unit items: 8.
        Assert.That(ThreadScaling.Makespan([8, 1, 1, 1, 1], 4), Is.EqualTo(8));
        // 3 threads on [4, 4, 4, 4]: a second round for one of them, 8.
        Assert.That(ThreadScaling.Makespan([4, 4, 4, 4], 3), Is.EqualTo(8));
        // More threads than items: the longest item; one thread: the sum; no items: 0.
        Assert.That(ThreadScaling.Makespan([4, 2], 8), Is.EqualTo(4));
        Assert.That(ThreadScaling.Makespan([4, 2, 7], 1), Is.EqualTo(13));
        Assert.That(ThreadScaling.Makespan([], 4), Is.EqualTo(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ThreadScaling.Makespan([1], 0));
    }

    [Test]
    public void Phase_SerialTakesItsWholeCost_PoolTakesTheMakespan()
    {
        var pool = new WorkPhase("pool", [5, 3, 3, 2, 2, 1], false);
        var serial = new WorkPhase("serial", [6], true);
        Assert.That(pool.Makespan(2), Is.EqualTo(8));
        Assert.That(serial.Makespan(32), Is.EqualTo(6));
        var node = new NodeWork("n", "k", [pool, serial]);
        Assert.That(node.Total, Is.EqualTo(22));
        Assert.That(node.Makespan(2), Is.EqualTo(14));
        Assert.That(node.Efficiency(2), Is.EqualTo(22.0 / 28).Within(1e-12));
    }

    /// <summary>
    /// A real M3DFEL pass on a pool that records every dispatch's item count: the model lists the same dispatches,
    /// in the same order, with as many items, so what it schedules is what the kernels hand the pool. Size 32 takes
    /// Winograd for layer1 (16×16 frames) and the direct kernel elsewhere; batch 8 at size 16 runs the head's qkv on
    /// the tiled GEMM (32 rows), batch 1 on dot products.
    /// </summary>
    [TestCase(32, 1, 3)]
    [TestCase(16, 8, 5)]
    [TestCase(32, 1, 32)]
    public void ModelDispatches_MatchARealPass(int size, int batch, int threads)
    {
        Assume.That(CpuVariants.SimdSupported, "the model describes the SIMD paths");
        var model = new M3dfel(size);
        var graph = model.Build(model.GenerateWeights(3));
        int[] shape = [batch, .. model.ClipShape];

        using var ctx = new CpuContext(threads, new CpuVariants());
        var seen = new List<int>();
        ctx.Pool.Dispatched = seen.Add;
        var kernels = graph.Nodes.Select(n => CpuBackend.Resolve(n.Op)).ToArray();
        using (var plan = new CpuPlan(graph, kernels, shape))
        {
            plan.Values[Graph.Input].CopyFrom(new DeterministicRandom(5).Uniform(plan.Values[Graph.Input].ElementCount,
                0, 1));
            for (int i = 0; i < graph.Nodes.Count; i++)
            {
                var node = graph.Nodes[i];
                kernels[i].Run(ctx, node.Inputs.Select(v => plan.Values[v]).ToArray(), plan.Values[node.Output]);
            }
        }
        foreach (var k in kernels) (k as IDisposable)?.Dispose();

        var modelled = ThreadScaling.Plan(graph, shape, threads)
            .SelectMany(n => n.Phases.Where(p => !p.Serial).Select(p => p.Costs.Length)).ToList();
        Assert.That(seen, Is.EqualTo(modelled));
        Assert.That(seen, Has.Count.GreaterThan(40));
    }

    [Test]
    public void Node_RefusesAnOpItDoesNotDescribe()
    {
        var op = OpCases.For("gelu").First().Op;
        var e = Assert.Throws<ArgumentException>(() => ThreadScaling.Node("g", op, [[2, 3]], 4));
        Assert.That(e!.Message, Does.Contain("gelu"));
    }
}
