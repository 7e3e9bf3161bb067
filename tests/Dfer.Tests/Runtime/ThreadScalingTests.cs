using Dfer.Backends.Cpu;
using Dfer.Devices.Cpu;
using Dfer.Models;
using Dfer.Ops;
using Dfer.Ops.Conv3d;
using Dfer.Primitives.Cpu;
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
    /// A 1×1×1 convolution, M = 13 rows, Cin = 8, Cout = 40: ⌈13/6⌉ = 3 row tiles, ⌈40/16⌉ = 3 panels. A tile executes
    /// 6 × 16 multiply-adds per reduction step (8 steps), whatever rows and channels are valid: 768 per tile-panel.
    /// </summary>
    [Test]
    public void GemmItems_OneByOne_HandCounted()
    {
        var op = new ConvGeometry(8, 40, (1, 1, 1), (1, 1, 1), (0, 0, 0), false);
        int[] x = [13, 1, 1, 1, 8], y = [13, 1, 1, 1, 40];

        // One thread: one item, all 3 panels (a group holds 4) over all 3 tiles (a chunk holds 32).
        var one = ImplicitGemm.WorkItems(op, x, y, 1);
        Assert.That(one, Is.EqualTo(new[] { new ImplicitGemm.WorkItem(0, 3, 0, 3, 9 * 768, 3 * 16 * 8) }));

        // Two threads want 8 items; an item would hold 9/8 tile-panels, so groups of 2 panels ([0,2), [2,3)) and
        // chunks of 2 tiles ([0,2), [2,3)), groups side by side: 4 items of 2x2, 1x2, 2x1, 1x1 tile-panels.
        var two = ImplicitGemm.WorkItems(op, x, y, 2);
        Assert.That(two, Is.EqualTo(new[]
        {
            new ImplicitGemm.WorkItem(0, 2, 0, 2, 4 * 768, 2 * 16 * 8),
            new ImplicitGemm.WorkItem(2, 3, 0, 2, 2 * 768, 1 * 16 * 8),
            new ImplicitGemm.WorkItem(0, 2, 2, 3, 2 * 768, 2 * 16 * 8),
            new ImplicitGemm.WorkItem(2, 3, 2, 3, 1 * 768, 1 * 16 * 8),
        }));
        Assert.That(two.Sum(i => i.Macs), Is.EqualTo(one[0].Macs), "cutting adds no work");
        // Claimed in order on 2 threads: 3072 | 1536, 1536 (to 3072) | the last 768 from 3072: 3840.
        Assert.That(ThreadScaling.Makespan(two.Select(i => i.Macs).ToArray(), 2), Is.EqualTo(3840));

        // No rows: no items, on any number of threads.
        Assert.That(ImplicitGemm.Partition.For(0, 3, 8).Items, Is.Zero);
        // Valid rows and channels only: M = 12 and Cout = 32 fill their tiles, so the count is the definition's.
        Assert.That(ImplicitGemm.WorkItems(new ConvGeometry(5, 32, (1, 1, 1), (1, 1, 1), (0, 0, 0), false),
            [12, 1, 1, 1, 5], [12, 1, 1, 1, 32], 1).Sum(i => i.Macs), Is.EqualTo(12L * 32 * 5));
    }

    /// <summary>
    /// Temporal taps a tile skips: 3×3×3, padding 1, 2 frames, Cin = 1, Cout = 16 (one panel), 9 floats per tap.
    /// Frame 0 reads taps 1..2 (tap 0 is the zero frame before), frame 1 taps 0..1.
    /// </summary>
    [Test]
    public void GemmItems_SkipTapsThatReadOnlyHalo_HandCounted()
    {
        var op = new ConvGeometry(1, 16, (3, 3, 3), (1, 1, 1), (1, 1, 1), false);
        // 2×3 positions a frame: tile 0 is frame 0 (taps [1,3)), tile 1 frame 1 ([0,2)): 2 taps each.
        var whole = ImplicitGemm.WorkItems(op, [1, 2, 2, 3, 1], [1, 2, 2, 3, 16], 1);
        Assert.That(whole.Single().Macs, Is.EqualTo(96L * 9 * (2 + 2)));
        Assert.That(whole.Single().WeightFloats, Is.EqualTo(16L * 9 * 3), "the item's tiles use all 3 taps");
        // 2×2 positions a frame: tile 0 is frame 0 and 2 rows of frame 1 (taps [0,3)), tile 1 the last 2 rows of
        // frame 1 and 4 repeats of the last one ([0,2)).
        var mixed = ImplicitGemm.WorkItems(op, [1, 2, 2, 2, 1], [1, 2, 2, 2, 16], 1);
        Assert.That(mixed.Single().Macs, Is.EqualTo(96L * 9 * (3 + 2)));
        // One frame: only the middle tap, a third of the weights.
        var single = ImplicitGemm.WorkItems(op, [1, 1, 2, 3, 1], [1, 1, 2, 3, 16], 1).Single();
        Assert.That((single.Macs, single.WeightFloats), Is.EqualTo((96L * 9, 16L * 9)));
    }

    /// <summary>
    /// Winograd F(2×2, 3×3), Cin = 2, Cout = 64 (4 panels), one frame of 8×8: 4×4 tiles of 2×2 outputs; a block of up
    /// to 48 product rows is all 4 tile rows (16 positions, 3 row tiles of 6). One frame keeps one temporal tap: a
    /// product executes 96 multiply-adds per tile-panel per input channel, 16 products per item. Cuts for several
    /// threads follow Geometry's estimate, rounds × (products + 320 per input and 64 per output transform).
    /// </summary>
    [Test]
    public void WinogradItems_HandCounted()
    {
        Assert.That((Conv3dWinogradCpu.InputTransformCost, Conv3dWinogradCpu.OutputTransformCost),
            Is.EqualTo((320, 64)));
        var op = new Conv3dOp(2, 64, (3, 3, 3), (1, 1, 1), (1, 1, 1), new float[64 * 2 * 27], new float[64], true,
            false);
        int[] x = [1, 1, 8, 8, 2];
        // One thread: the sample's 4 tile rows, all 64 channels: 3 tiles × 4 panels; 16 tiles' transforms; each
        // product streams its 4 panels' weights for the one tap (16 columns × 2 input channels a panel).
        var one = Conv3dWinogradCpu.WorkItems(op, x, 1);
        Assert.That(one, Is.EqualTo(new[]
        {
            new Conv3dWinogradCpu.WorkItem(0, 0, 4, 0, 64, 16 * 3 * 4 * 96 * 2, 16 * 2, 16 * 64, 16 * 4 * 16 * 2),
        }));
        Assert.That(one[0].Cost, Is.EqualTo(36864 + 32 * 320 + 1024 * 64));   // 112,640
        // Two threads (8 items wanted). One round of the whole: 112,640. Halves of the channels (pairs of panels),
        // one round: 18,432 + 16·(2·320 + 32·64) = 61,440, the least. (Blocks of 2 tile rows, all channels: 2 items
        // in one round, 24,576 + 8·(2·320 + 64·64) = 62,464; single rows: 2 rounds of 31,232.)
        Assert.That(Conv3dWinogradCpu.WorkItems(op, x, 2), Is.EqualTo(new[]
        {
            new Conv3dWinogradCpu.WorkItem(0, 0, 4, 0, 32, 16 * 3 * 2 * 96 * 2, 16 * 2, 16 * 32, 16 * 2 * 16 * 2),
            new Conv3dWinogradCpu.WorkItem(0, 0, 4, 32, 64, 16 * 3 * 2 * 96 * 2, 16 * 2, 16 * 32, 16 * 2 * 16 * 2),
        }));
        // Eight threads (32 wanted): single tile rows and halves of the channels, 8 items in one round of
        // 6,144 + 4·(2·320 + 32·64) = 16,896; each product is 4 positions in a tile of 6, so together they execute
        // 49,152 multiply-adds, a third more than one thread's 36,864.
        var eight = Conv3dWinogradCpu.WorkItems(op, x, 8);
        Assert.That(eight, Has.Length.EqualTo(8));
        for (int i = 0; i < 8; i++)
            Assert.That(eight[i], Is.EqualTo(new Conv3dWinogradCpu.WorkItem(0, i / 2, 1, i % 2 * 32, i % 2 * 32 + 32,
                16 * 1 * 2 * 96 * 2, 4 * 2, 4 * 32, 16 * 2 * 16 * 2)), $"item {i}");
        Assert.That(eight.Sum(i => i.Macs), Is.EqualTo(49152));
        // The weights: every block of rows streams them again, 4 blocks for one thread's one.
        Assert.That(eight.Sum(i => i.WeightFloats), Is.EqualTo(4 * one[0].WeightFloats));
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
        // 37 a pass: 24 conv/permute/head dispatches, the LSTM's 4 input projections and 8 steps (both directions).
        Assert.That(seen, Has.Count.GreaterThan(30));
    }

    /// <summary>M3DFEL at batch 2 on 2 threads (the development machine's runs): every convolution already has 8 items
    /// or more, so each keeps the cut it has on one thread, as before the kernels cut by thread count.</summary>
    [Test]
    public void TwoThreadsAtBatch2_KeepTheOneThreadCut()
    {
        var model = new M3dfel();
        var graph = model.Build(model.GenerateWeights(3));
        int[] shape = [2, .. model.ClipShape];
        var one = ThreadScaling.Plan(graph, shape, 1);
        var two = ThreadScaling.Plan(graph, shape, 2);
        int convs = 0;
        for (int i = 0; i < one.Count; i++)
        {
            if (graph.Nodes[i].Op is not Conv3dOp) continue;
            convs++;
            Assert.That(two[i].Phases.Single().Costs, Is.EqualTo(one[i].Phases.Single().Costs), one[i].Node);
            Assert.That(two[i].Phases.Single().Costs, Has.Length.GreaterThanOrEqualTo(8), one[i].Node);
        }
        Assert.That(convs, Is.EqualTo(20));
    }

    [Test]
    public void Node_RefusesAnOpItDoesNotDescribe()
    {
        var op = OpCases.For("gelu").First().Op;
        var e = Assert.Throws<ArgumentException>(() => ThreadScaling.Node("g", op, [[2, 3]], 4));
        Assert.That(e!.Message, Does.Contain("gelu"));
    }
}
