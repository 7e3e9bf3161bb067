using Dfer.Backends;
using Dfer.Backends.Cpu;
using Dfer.Backends.Reference;
using Dfer.Ops;
using Dfer.Ops.Add;
using Dfer.Ops.ClassToken;
using Dfer.Ops.Slice;
using Dfer.Runtime;
using Dfer.Tensors;

namespace Dfer.Tests.Ops;

/// <summary>
/// add, slice and classtoken by hand on tiny tensors on every local backend; their shape checks and
/// costs; and all four small ops on the CPU with strided (halo) inputs, as the planner may hand them.
/// </summary>
[TestFixture]
[NonParallelizable]
public class SmallOpsTests
{
    private static readonly string[] LocalBackends = ["reference", "cpu", "ilgpu-cpu"];

    private static float[] Iota(int n) => Enumerable.Range(0, n).Select(i => (float)i).ToArray();

    private static float[] RunOn(string backendName, Op op, float[][] inputs, int[][] shapes)
    {
        if (backendName == "reference")
            return ReferenceBackend.RunOp(op, inputs.Select(a => a.Select(v => (double)v).ToArray()).ToArray(), shapes)
                .Select(v => (float)v).ToArray();
        using IBackend backend = BackendRegistry.Create(backendName, threads: 2);
        GuardedOutput y = ((IOpRunner)backend).RunGuarded(op, inputs, shapes, 16, 1234.5f);
        Assert.That(y.GuardWrites, Is.Zero, "writes outside the output");
        return y.Values;
    }

    [TestCaseSource(nameof(LocalBackends))]
    public void Slice_ByHand(string backend)
    {
        // x [2, 3, 4] = 0..23. Axis 1, start 1, length 2: rows 1 and 2 of each item.
        Assert.That(RunOn(backend, new SliceOp(1, 1, 2), [Iota(24)], [[2, 3, 4]]),
            Is.EqualTo(new float[] { 4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23 }));
        // Last axis, start 3, length 1: the last value of every row.
        Assert.That(RunOn(backend, new SliceOp(2, 3, 1), [Iota(24)], [[2, 3, 4]]),
            Is.EqualTo(new float[] { 3, 7, 11, 15, 19, 23 }));
    }

    [TestCaseSource(nameof(LocalBackends))]
    public void ClassToken_ByHand(string backend)
    {
        // x [2, 2, 3] = 0..11, token (−1, −2, −3).
        Assert.That(RunOn(backend, new ClassTokenOp([-1f, -2f, -3f]), [Iota(12)], [[2, 2, 3]]),
            Is.EqualTo(new float[] { -1, -2, -3, 0, 1, 2, 3, 4, 5, -1, -2, -3, 6, 7, 8, 9, 10, 11 }));
    }

    [TestCaseSource(nameof(LocalBackends))]
    public void Add_ByHand(string backend)
    {
        float[] a = [1.5f, -2f, 3f, 1e30f, 0.25f], b = [0.5f, 2f, -7f, 1e30f, float.NaN];
        float[] y = RunOn(backend, new AddOp(), [a, b], [[5], [5]]);
        Assert.That(y[..4], Is.EqualTo(new float[] { 2f, 0f, -4f, 2e30f }));
        Assert.That(y[4], Is.NaN);
    }

    [Test]
    public void Add_ChunkedPathCoversAnOddTail()
    {
        // More than one CPU work item, with a last chunk that is not a whole number of vectors.
        int n = 3 * AddCpu.Chunk + 13;
        float[] a = Iota(n), b = a.Select(v => -2 * v + 0.5f).ToArray();
        float[] y = RunOn("cpu", new AddOp(), [a, b], [[1, n], [1, n]]);
        Assert.That(y, Is.EqualTo(a.Select(v => -v + 0.5f).ToArray()));
    }

    [Test]
    public void Slice_And_ClassToken_PiecedPathsCoverAnOddTail()
    {
        // One batch item whose run is several CPU pieces plus a ragged end.
        int c = 7, n = (int)(2 * SliceCpu.Piece / c) + 5;
        float[] x = Iota((n + 1) * c);
        float[] sliced = RunOn("cpu", new SliceOp(1, 1, n), [x], [[1, n + 1, c]]);
        Assert.That(sliced, Is.EqualTo(x[c..]));
        float[] token = [9f, 8f, 7f, 6f, 5f, 4f, 3f];
        float[] withToken = RunOn("cpu", new ClassTokenOp(token), [x[c..]], [[1, n, c]]);
        Assert.That(withToken, Is.EqualTo(token.Concat(x[c..]).ToArray()));
    }

    [Test]
    public void Shapes_AreChecked()
    {
        var add = new AddOp();
        Assert.That(add.OutputShape([[2, 3], [2, 3]]), Is.EqualTo(new[] { 2, 3 }));
        Assert.Throws<ArgumentException>(() => add.OutputShape([[2, 3], [3, 2]]));
        Assert.Throws<ArgumentException>(() => add.OutputShape([[2, 3]]));

        var slice = new SliceOp(1, 1, 1568);
        Assert.That(slice.OutputShape([[2, 1569, 384]]), Is.EqualTo(new[] { 2, 1568, 384 }));
        Assert.Throws<ArgumentException>(() => slice.OutputShape([[2, 1568, 384]]), "range past the end");
        Assert.Throws<ArgumentException>(() => new SliceOp(3, 0, 1).OutputShape([[2, 3, 4]]), "axis past the rank");
        Assert.Throws<ArgumentOutOfRangeException>(() => new SliceOp(0, 0, 1), "axis 0 is the batch");
        Assert.Throws<ArgumentOutOfRangeException>(() => new SliceOp(1, -1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new SliceOp(1, 0, 0));
        Assert.Throws<ArgumentException>(() => new SliceOp(1, int.MaxValue, 2).OutputShape([[1, 5]]),
            "no overflow past the axis");

        var token = new ClassTokenOp(new float[96]);
        Assert.That(token.OutputShape([[2, 25088, 96]]), Is.EqualTo(new[] { 2, 25089, 96 }));
        Assert.Throws<ArgumentException>(() => token.OutputShape([[2, 25088, 95]]));
        Assert.Throws<ArgumentException>(() => token.OutputShape([[25088, 96]]));
        Assert.Throws<ArgumentException>(() => new ClassTokenOp([]));
    }

    [Test]
    public void Costs()
    {
        var add = new AddOp();
        Assert.That(add.Flops([[2, 3], [2, 3]]), Is.EqualTo(6));
        Assert.That(add.Bytes([[2, 3], [2, 3]]), Is.EqualTo(4L * 18));

        // A slice reads only the kept values: [2, 5, 4] → [2, 3, 4] moves 24 in and 24 out.
        var slice = new SliceOp(1, 2, 3);
        Assert.That(slice.Flops([[2, 5, 4]]), Is.Zero);
        Assert.That(slice.Bytes([[2, 5, 4]]), Is.EqualTo(4L * 48));

        var token = new ClassTokenOp(new float[4]);
        Assert.That(token.Flops([[2, 3, 4]]), Is.Zero);
        Assert.That(token.WeightElements, Is.EqualTo(4));
        Assert.That(token.Bytes([[2, 3, 4]]), Is.EqualTo(4L * (24 + 32 + 4)));

        Assert.That(new[] { OpRegistry.Named("add"), OpRegistry.Named("slice"), OpRegistry.Named("classtoken"),
            OpRegistry.Named("issm") }.Select(k => k.Name),
            Is.EqualTo(new[] { "add", "slice", "classtoken", "issm" }));
    }

    /// <summary>The small cases of the four ops (the IFDD-sized ones add nothing here).</summary>
    public static IEnumerable<TestCaseData> StridedCases() =>
        new[] { OpRegistry.Named("add"), OpRegistry.Named("slice"), OpRegistry.Named("classtoken"),
        OpRegistry.Named("issm") }
            .SelectMany(k => OpCases.For(k))
            .Where(c => c.InputShapes[0].Length >= 3 && c.InputShapes[0][1..^1].Any(d => d > 1)
            && Tensor.ElementCountOf(c.InputShapes[0]) < 100_000)
            .Select(c => new TestCaseData(c).SetName("halo input " + c.Name));

    [TestCaseSource(nameof(StridedCases))]
    public unsafe void HaloInputGivesTheDenseResult(OpCase c)
    {
        using var cpu = new CpuBackend(2);
        float[][] x = c.MakeInputs(new DeterministicRandom(TestSeed.Use(11)));
        var strided = new Tensor[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            int[] xs = c.InputShapes[i];
            var halo = xs.Select((_, d) => d == 0 || d == xs.Length - 1 ? 0 : 1 + d % 2).ToArray();
            strided[i] = Tensor.ZerosWithHalo(xs, halo);
            new Span<float>(strided[i].Storage.Pointer, (int)(strided[i].Storage.Bytes / sizeof(float)))
                .Fill(float.NaN);
            strided[i].CopyFrom(x[i]);
            Assert.That(strided[i].IsContiguous, Is.False, "the view must be strided to test anything");
        }
        int[] ys = c.Op.OutputShape(c.InputShapes);
        var dense = Tensor.Zeros(ys);
        var fromHalo = Tensor.Zeros(ys);
        cpu.RunOp(c.Op, x.Select((a, i) => Tensor.FromArray(a, c.InputShapes[i])).ToArray(), dense);
        cpu.RunOp(c.Op, strided, fromHalo);
        Assert.That(fromHalo.ToArray(), Is.EqualTo(dense.ToArray()));
        Assert.That(dense.ToArray(), Has.None.NaN);
    }
}
