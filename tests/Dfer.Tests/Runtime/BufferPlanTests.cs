using Dfer.Backends;
using Dfer.Ops;
using Dfer.Tensors;

namespace Dfer.Tests.Runtime;

/// <summary>
/// The arena layout the ILGPU and CUDA executors share: hand-computed offsets on a chain, and on random
/// step lists the invariants a kernel relies on (no region a step reads, writes or scratches overlaps another
/// live one; aliases share; outputs survive; alignment; the arena is no bigger than all regions together).
/// </summary>
[TestFixture]
public class BufferPlanTests
{
    private const int A = BufferPlan.Alignment;

    [Test]
    public void Chain_ReusesTheRegionOfAValueOnceItsReaderRan()
    {
        // v0 (input, 1000 B) -> v1 (300 B) -> v2 (200 B, output); step 1 needs 100 B of scratch.
        var steps = new[] { new PlanStep([0], 1), new PlanStep([1], 2, WorkspaceBytes: 100) };
        var plan = new BufferPlan([1000, 300, 200], 0, steps, [2]);
        Assert.That(plan.Offset(0), Is.EqualTo(0));
        Assert.That(plan.Offset(1), Is.EqualTo(4 * A), "after the input's 4 aligned blocks");
        // step 1: v2 takes the lowest gap that fits (v0's, free since step 0), the workspace the next one
        Assert.That(plan.Offset(2), Is.EqualTo(0));
        Assert.That(plan.WorkspaceOffset(1), Is.EqualTo(A));
        Assert.That(plan.WorkspaceOffset(0), Is.EqualTo(-1));
        Assert.That(plan.TotalBytes, Is.EqualTo(6 * A));
    }

    [Test]
    public void Alias_SharesItsSourceRegion_AndKeepsItAliveForItsReaders()
    {
        // v1 = reshape(v0); v2 = f(v1); v0's region must live until step 1 reads it through v1.
        var steps = new[] { new PlanStep([0], 1, Alias: true), new PlanStep([1], 2) };
        var plan = new BufferPlan([512, 512, 512], 0, steps, [2]);
        Assert.That(plan.Offset(1), Is.EqualTo(plan.Offset(0)));
        Assert.That(plan.Offset(2), Is.Not.EqualTo(plan.Offset(0)));
    }

    [Test]
    public void ValuesNoStepWrites_HaveNoRegion_AndMisorderedStepsAreRefused()
    {
        var plan = new BufferPlan([64, 64, 64], 0, [new PlanStep([0], 2)], [2]);
        Assert.That(plan.Offset(1), Is.EqualTo(-1));
        Assert.Throws<ArgumentException>(
            () => new BufferPlan([64, 64, 64], 0, [new PlanStep([1], 2), new PlanStep([0], 1)], [2]));
        Assert.Throws<ArgumentException>(
            () => new BufferPlan([64, 64], 0, [new PlanStep([0], 1), new PlanStep([0], 1)], [1]));
        Assert.Throws<ArgumentException>(() => new BufferPlan([64, 64, 64], 0, [new PlanStep([0], 1)], [2]));
    }

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    [TestCase(4)]
    [TestCase(5)]
    public void RandomStepLists_KeepEveryLiveRegionDisjoint(int seed)
    {
        var rng = TestSeed.Random(seed);
        for (int trial = 0; trial < 50; trial++)
        {
            int values = rng.Next(2, 40);
            var bytes = Enumerable.Range(0, values).Select(_ => (long)rng.Next(0, 5000)).ToArray();
            var steps = new List<PlanStep>();
            for (int v = 1; v < values; v++)
            {
                var inputs = Enumerable.Range(0, rng.Next(1, 4)).Select(_ => rng.Next(0, v)).Distinct().ToArray();
                bool alias = rng.NextDouble() < 0.15 && inputs.Length == 1;
                if (alias) bytes[v] = bytes[inputs[0]];
                steps.Add(new PlanStep(inputs, v, rng.NextDouble() < 0.3 ? rng.Next(1, 3000) : 0, alias));
            }
            var outputs = Enumerable.Range(0, rng.Next(1, 4)).Select(_ => rng.Next(1, values)).Distinct().ToArray();
            var plan = new BufferPlan(bytes, 0, steps, outputs);
            Check(plan, bytes, steps, outputs);
        }
    }

    [Test]
    public void M3dfel_16BitActivations_ShrinkTheArena_AndTheLayoutHoldsTheInvariants()
    {
        var model = Dfer.Models.ModelRegistry.Get("m3dfel");
        Graph g = model.Build(model.GenerateWeights(1));
        int[][] shapes = g.InferShapes([8, .. model.ClipShape]);
        bool[] half = Dfer.Backends.Cuda.CudaBackend.Store16(g, Precision.Bf16);
        long[] fp32 = shapes.Select(s => 4 * Tensor.ElementCountOf(s)).ToArray();
        long[] mixed = shapes.Select((s, v) => (half[v] ? 2 : 4) * Tensor.ElementCountOf(s)).ToArray();
        PlanStep[] steps = BufferPlan.NodeSteps(g);
        var a = new BufferPlan(fp32, Graph.Input, steps, g.Outputs.Values);
        var b = new BufferPlan(mixed, Graph.Input, steps, g.Outputs.Values);
        Check(a, fp32, steps, g.Outputs.Values.ToArray());
        Check(b, mixed, steps, g.Outputs.Values.ToArray());
        // The peak is the input frames plus the stem's output (fp32: 4 B per element, bf16: 2 B): the arena shrinks.
        Assert.That(b.TotalBytes, Is.LessThan(a.TotalBytes));
        long peak = fp32.Max() * 2;
        Assert.That(a.TotalBytes, Is.LessThanOrEqualTo(peak + fp32.Sum() / 2),
            "no worse than the two largest regions plus slack");
    }

    /// <summary>Replays the steps and asserts the layout's promises.</summary>
    private static void Check(BufferPlan plan, long[] bytes, IReadOnlyList<PlanStep> steps, int[] outputs)
    {
        int values = bytes.Length;
        var owner = Enumerable.Range(0, values).ToArray();
        foreach (var s in steps) if (s.Alias) owner[s.Output] = owner[s.Inputs[0]];
        var last = new int[values];
        Array.Fill(last, -1);
        for (int i = 0; i < steps.Count; i++)
            foreach (int v in steps[i].Inputs) last[owner[v]] = Math.Max(last[owner[v]], i);
        foreach (int v in outputs) last[owner[v]] = int.MaxValue;
        var born = new int[values];
        Array.Fill(born, int.MaxValue);
        born[0] = -1;
        for (int i = 0; i < steps.Count; i++) if (owner[steps[i].Output] == steps[i].Output) born[steps[i].Output] = i;

        (long, long) Region(int v) => (plan.Offset(v), plan.Offset(v) + Math.Max(bytes[v], 1));
        for (int v = 0; v < values; v++)
        {
            if (born[owner[v]] == int.MaxValue) continue;
            Assert.That(plan.Offset(v) % BufferPlan.Alignment, Is.EqualTo(0));
            Assert.That(plan.Offset(v) + bytes[v], Is.LessThanOrEqualTo(plan.TotalBytes));
            if (owner[v] != v) Assert.That(plan.Offset(v), Is.EqualTo(plan.Offset(owner[v])));
        }
        for (int i = 0; i < steps.Count; i++)
        {
            // Alive at step i: owners born at or before i and last used at or after i (the output counts as alive).
            var regions = new List<(string Name, long Lo, long Hi)>();
            for (int v = 0; v < values; v++)
                if (owner[v] == v && born[v] <= i && (last[v] >= i || born[v] == i))
                    regions.Add(($"v{v}", Region(v).Item1, Region(v).Item2));
            if (steps[i].WorkspaceBytes > 0)
            {
                long w = plan.WorkspaceOffset(i);
                Assert.That(w % BufferPlan.Alignment, Is.EqualTo(0));
                Assert.That(w + steps[i].WorkspaceBytes, Is.LessThanOrEqualTo(plan.TotalBytes));
                regions.Add(("workspace", w, w + steps[i].WorkspaceBytes));
            }
            for (int x = 0; x < regions.Count; x++)
                for (int y = x + 1; y < regions.Count; y++)
                    Assert.That(regions[x].Hi <= regions[y].Lo || regions[y].Hi <= regions[x].Lo, Is.True,
                        $"step {i}: {regions[x]} overlaps {regions[y]}");
        }
        Assert.That(plan.TotalBytes, Is.LessThanOrEqualTo(bytes.Sum(b => (Math.Max(b, 1) + A - 1) / A * A)
            + steps.Sum(s => (s.WorkspaceBytes + A - 1) / A * A) + A));
    }
}
