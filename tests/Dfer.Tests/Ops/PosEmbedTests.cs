using Dfer.Backends;
using Dfer.Backends.Reference;
using Dfer.Ops;
using Dfer.Ops.PosEmbed;
using Dfer.Runtime;

namespace Dfer.Tests.Ops;

/// <summary>
/// posembed (docs/models/temporal-encoder.md, the learned positional term) by hand on tiny tensors on every local
/// backend, the CPU's pieced path with ragged ends, its shape and constructor checks, and its costs.
/// </summary>
[TestFixture]
[NonParallelizable]
public class PosEmbedTests
{
    private static readonly string[] LocalBackends = ["reference", "cpu", "ilgpu-cpu"];

    private static float[] RunOn(string backendName, Op op, float[] x, int[] shape)
    {
        if (backendName == "reference")
            return ReferenceBackend.RunOp(op, [x.Select(v => (double)v).ToArray()], [shape])
                .Select(v => (float)v).ToArray();
        using IBackend backend = BackendRegistry.Create(backendName, threads: 2);
        GuardedOutput y = ((IOpRunner)backend).RunGuarded(op, [x], [shape], 16, 1234.5f);
        Assert.That(y.GuardWrites, Is.Zero, "writes outside the output");
        return y.Values;
    }

    [TestCaseSource(nameof(LocalBackends))]
    public void FirstRowsOfTheTable_AddedToEveryBatchItem(string backend)
    {
        // Table [3, 2] = (10, 20 | 30, 40 | 50, 60); x [2, 2, 2] = 0..7: rows 0 and 1 of the table, twice.
        var op = new PosEmbedOp([10, 20, 30, 40, 50, 60], 3, 2);
        Assert.That(RunOn(backend, op, [0, 1, 2, 3, 4, 5, 6, 7], [2, 2, 2]),
            Is.EqualTo(new float[] { 10, 21, 32, 43, 14, 25, 36, 47 }));
    }

    [TestCase(1)]
    [TestCase(2)]
    public void CpuPiecedPath_CoversARaggedEnd(int batch)
    {
        // Each batch item's L·D values are two CPU pieces plus a tail that is not a whole number of vectors.
        int dim = 13, rows = (int)(2 * PosEmbedCpu.Piece / dim) + 3, l = rows - 1;
        float[] table = Enumerable.Range(0, rows * dim).Select(i => (float)(i % 1000)).ToArray();
        float[] x = Enumerable.Range(0, batch * l * dim).Select(i => -0.5f * (i % 977)).ToArray();
        float[] y = RunOn("cpu", new PosEmbedOp(table, rows, dim), x, [batch, l, dim]);
        float[] want = x.Select((v, i) => v + table[i % (l * dim)]).ToArray();
        Assert.That(y, Is.EqualTo(want));
    }

    [Test]
    public void Shapes_OutsideTheTable_AreOneLineErrors()
    {
        var op = new PosEmbedOp(new float[4 * 3], 4, 3);
        Assert.That(op.OutputShape([[2, 4, 3]]), Is.EqualTo(new[] { 2, 4, 3 }));
        foreach (int[] bad in new[] { new[] { 2, 5, 3 }, [2, 0, 3], [2, 4, 2], [4, 3], [1, 2, 4, 3] })
        {
            var e = Assert.Throws<ArgumentException>(() => op.OutputShape([bad]))!;
            Assert.That(e.Message, Does.StartWith("posembed: expects [B, L<=4, 3], got ["));
            Assert.That(e.Message, Does.Not.Contain("\n"));
        }
    }

    [Test]
    public void Constructor_ChecksTheTable()
    {
        Assert.Throws<ArgumentNullException>(() => new PosEmbedOp(null!, 1, 1));
        Assert.That(() => new PosEmbedOp(new float[6], 2, 4),
            Throws.ArgumentException.With.Message.Contains("the table has 6 values, expected rows·dim = 2·4 = 8"));
        Assert.That(() => new PosEmbedOp([], 0, 4), Throws.ArgumentException.With.Message.Contains("rows"));
        Assert.That(() => new PosEmbedOp([], 4, 0), Throws.ArgumentException.With.Message.Contains("dim"));
    }

    [Test]
    public void Costs()
    {
        // x [2, 3, 5] against a [7, 5] table: 30 adds; x and y once, 3 of the 7 table rows; the whole table held.
        var op = new PosEmbedOp(new float[35], 7, 5);
        Assert.That(op.Flops([[2, 3, 5]]), Is.EqualTo(30));
        Assert.That(op.Bytes([[2, 3, 5]]), Is.EqualTo(4L * (30 + 30 + 15)));
        Assert.That(op.WeightElements, Is.EqualTo(35));
        Assert.That(OpRegistry.Named("posembed"), Is.SameAs(PosEmbedKind.Instance));
    }
}
