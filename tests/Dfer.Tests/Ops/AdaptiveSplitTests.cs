using Dfer.Backends;
using Dfer.Backends.Reference;
using Dfer.Ops;
using Dfer.Ops.AdaptiveSplit;
using Dfer.Runtime;

namespace Dfer.Tests.Ops;

/// <summary>
/// ISSM's adaptive index split checked by hand: similarity matrices written out from the frames,
/// the softmax and offsets evaluated here from ifdd.md §3.5.1's formulas in doubles, on the Reference,
/// the CPU kernel and the ILGPU kernel (CPU accelerator). Plus: NaN/∞ features never give a valid
/// index, batch items do not mix, and the op's shape checks and cost.
/// </summary>
[TestFixture]
[NonParallelizable]
public class AdaptiveSplitTests
{
    // Two batch items of T = 3 frames with M = 2 features each.
    // Item 0: frames 0 and 1 identical. Item 1: frames 0 and 2 identical.
    private static readonly float[] Frames =
    [
        1f, 0f,   1f, 0f,   0f, 2f,
        0.5f, -1f,   2f, 1f,   0.5f, -1f,
    ];

    private const double Scale = 0.5, OffsetScale = 2;
    private static readonly float[] Base = [0f, 2f];

    // K = 2 rows of T·T = 9. Row 0 weighs P[0, j] by +c_j and P[1, j] by −c_j: zero when rows 0 and 1
    // of P agree (c_j not all equal, since rows of P always have the same sum, and c_0 ≠ c_2 for item 1).
    private static readonly float[] Weight =
    [
        1f, 2f, 4f,   -1f, -2f, -4f,   0f, 0f, 0f,
        0.5f, -0.25f, 0.75f,   1f, -1.5f, 0.25f,   -0.5f, 2f, 0.125f,
    ];

    /// <summary>S = 0.5 · f fᵀ per item, each dot product worked out by hand from <see cref="Frames"/>.</summary>
    private static readonly double[][,] S =
    [
        // f0 = f1 = (1, 0), f2 = (0, 2): f0·f0 = 1, f0·f2 = 0, f2·f2 = 4.
        new double[,] { { 0.5, 0.5, 0 }, { 0.5, 0.5, 0 }, { 0, 0, 2 } },
        // f0 = f2 = (0.5, −1), f1 = (2, 1): f0·f0 = 1.25, f0·f1 = 0, f1·f1 = 5.
        new double[,] { { 0.625, 0, 0.625 }, { 0, 2.5, 0 }, { 0.625, 0, 0.625 } },
    ];

    /// <summary>idx[b, k] from the formulas: P = softmax(±S) by rows, off = 2·tanh(Σ W[k, 3i+j] P[i, j]), idx = base
    /// + off.</summary>
    private static double[] Expected(bool negate)
    {
        var y = new double[2 * 2];
        for (int b = 0; b < 2; b++)
        {
            var p = new double[3, 3];
            for (int i = 0; i < 3; i++)
            {
                double z0 = (negate ? -1 : 1) * S[b][i, 0], z1 = (negate ? -1 : 1) * S[b][i, 1],
                    z2 = (negate ? -1 : 1) * S[b][i, 2];
                double denominator = Math.Exp(z0) + Math.Exp(z1) + Math.Exp(z2);
                p[i, 0] = Math.Exp(z0) / denominator;
                p[i, 1] = Math.Exp(z1) / denominator;
                p[i, 2] = Math.Exp(z2) / denominator;
            }
            for (int k = 0; k < 2; k++)
            {
                double acc = 0;
                for (int i = 0; i < 3; i++)
                    for (int j = 0; j < 3; j++) acc += Weight[k * 9 + i * 3 + j] * p[i, j];
                y[b * 2 + k] = Base[k] + OffsetScale * Math.Tanh(acc);
            }
        }
        return y;
    }

    private static AdaptiveSplitOp Op(bool negate) => new(3, Weight, Base, Scale, OffsetScale, negate);

    private static readonly int[][] Shapes = [[2, 3, 2]];

    private static double[] RunOn(string backendName, AdaptiveSplitOp op, float[] x)
    {
        if (backendName == "reference")
            return ReferenceBackend.RunOp(op, [x.Select(v => (double)v).ToArray()],
                [[2, op.Frames, x.Length / (2 * op.Frames)]]);
        using IBackend backend = BackendRegistry.Create(backendName, threads: 2);
        GuardedOutput y =
            ((IOpRunner)backend).RunGuarded(op, [x], [[2, op.Frames, x.Length / (2 * op.Frames)]], 16, 1234.5f);
        Assert.That(y.GuardWrites, Is.Zero, "writes outside the output");
        return y.Values.Select(v => (double)v).ToArray();
    }

    [Test]
    public void HandComputedExpectation_HasTheStructureItShould()
    {
        // Guards the expectation itself: rows 0 and 1 of P agree in item 0, so its first offset is 0 (up to rounding);
        // every other value moves off its base, and the two branches differ.
        double[] approx = Expected(false), detail = Expected(true);
        Assert.That(approx[0], Is.EqualTo(0.0).Within(1e-15));
        Assert.That(detail[0], Is.EqualTo(0.0).Within(1e-15));
        Assert.That(new[] { approx[1] - 2, approx[2], approx[3] - 2, detail[1] - 2, detail[2], detail[3] - 2 }.Select(
            Math.Abs), Has.All.GreaterThan(0.05));
        Assert.That(approx[1], Is.Not.EqualTo(detail[1]).Within(1e-3));
    }

    [TestCase("reference", false, 1e-12)]
    [TestCase("reference", true, 1e-12)]
    [TestCase("cpu", false, 2e-6)]
    [TestCase("cpu", true, 2e-6)]
    [TestCase("ilgpu-cpu", false, 2e-6)]
    [TestCase("ilgpu-cpu", true, 2e-6)]
    public void MatchesTheHandComputedIndices(string backendName, bool negate, double tolerance)
    {
        double[] expected = Expected(negate);
        double[] y = RunOn(backendName, Op(negate), Frames);
        Assert.That(y, Is.EqualTo(expected).Within(tolerance));
        // Identical frames 0 and 1 in item 0 give identical softmax rows: the antisymmetric weight row cancels.
        Assert.That(y[0], Is.EqualTo(0.0).Within(tolerance));
    }

    [TestCase("reference")]
    [TestCase("cpu")]
    [TestCase("ilgpu-cpu")]
    public void BatchItemsAreIndependent(string backendName)
    {
        // Item 1 alone, duplicated into both batch slots, gives item 1's indices twice.
        float[] twice = Frames[6..].Concat(Frames[6..]).ToArray();
        double[] both = RunOn(backendName, Op(false), Frames), dup = RunOn(backendName, Op(false), twice);
        Assert.That(dup[..2], Is.EqualTo(both[2..]).Within(1e-6));
        Assert.That(dup[2..], Is.EqualTo(both[2..]).Within(1e-6));
    }

    [Test]
    public void OneFrame_SoftmaxIsOne_OffsetIsTanhOfTheWeight()
    {
        // T = 1: P = [1] whatever the feature, so idx = base + offsetScale·tanh(W).
        var op = new AdaptiveSplitOp(1, [0.75f, -3f], [4f, 1f], 123.0, 1.5, negate: true);
        double[] y = ReferenceBackend.RunOp(op, [[7.0, -2.0]], [[2, 1, 1]]);
        double a = 4 + 1.5 * Math.Tanh(0.75), b = 1 + 1.5 * Math.Tanh(-3);
        Assert.That(y, Is.EqualTo(new[] { a, b, a, b }).Within(1e-15));
        using IBackend cpu = BackendRegistry.Create("cpu", threads: 2);
        var g = ((IOpRunner)cpu).RunGuarded(op, [[7f, -2f]], [[2, 1, 1]], 4, 1234.5f);
        Assert.That(g.Values, Is.EqualTo(new[] { a, b, a, b }).Within(1e-6));
    }

    [TestCase("reference", false, float.NaN)]
    [TestCase("reference", true, float.NaN)]
    [TestCase("reference", false, float.PositiveInfinity)]
    [TestCase("reference", true, float.NegativeInfinity)]
    [TestCase("cpu", false, float.NaN)]
    [TestCase("cpu", true, float.NaN)]
    [TestCase("cpu", false, float.PositiveInfinity)]
    [TestCase("cpu", true, float.NegativeInfinity)]
    [TestCase("ilgpu-cpu", false, float.NaN)]
    [TestCase("ilgpu-cpu", true, float.NaN)]
    [TestCase("ilgpu-cpu", false, float.PositiveInfinity)]
    [TestCase("ilgpu-cpu", true, float.NegativeInfinity)]
    public void NonFiniteFeature_GivesNaNIndicesForItsBatchItemOnly(string backendName, bool negate, float bad)
    {
        // IFDD's shape (T = 8, M = 343, K = 4); one bad feature in frame 5 of batch item 1.
        var rng = new Dfer.Tensors.DeterministicRandom(TestSeed.Use(17));
        var op = new AdaptiveSplitOp(8, rng.Uniform(4 * 64, -2f, 2f), negate ? [1f, 3f, 5f, 7f] : [0f, 2f, 4f, 6f],
            1.0 / 768, 2.0, negate);
        float[] x = rng.Uniform(2 * 8 * 343, -0.17f, 3f);
        x[(8 + 5) * 343 + 100] = bad;
        double[] y = RunOn(backendName, op, x);
        Assert.That(y[..4], Has.All.Matches<double>(double.IsFinite), "item 0 has finite features");
        Assert.That(y[4..], Has.All.NaN, "a non-finite feature must not yield a valid index");
    }

    [Test]
    public void Shapes_AreChecked()
    {
        var op = Op(false);
        Assert.That(op.OutputShape(Shapes), Is.EqualTo(new[] { 2, 2 }));
        Assert.Throws<ArgumentException>(() => op.OutputShape([[2, 4, 2]]), "T must be the op's frame count");
        Assert.Throws<ArgumentException>(() => op.OutputShape([[6, 2]]), "rank 3");
        Assert.Throws<ArgumentException>(() => op.OutputShape([[2, 3, 0]]), "at least one feature");
        Assert.Throws<ArgumentException>(() => new AdaptiveSplitOp(3, new float[17], Base, 1, 1, false),
            "W must be [K, T·T]");
        Assert.Throws<ArgumentOutOfRangeException>(() => new AdaptiveSplitOp(0, [], Base, 1, 1, false));
        Assert.Throws<ArgumentException>(() => new AdaptiveSplitOp(3, [], [], 1, 1, false));
    }

    [Test]
    public void Cost_CountsTheSimilarityProductAndTheOffsetGemv()
    {
        // IFDD: B 2, T 8, M 343, K 4. F·Fᵀ: 2·64·343 multiply-adds; offsets: 2·4·64.
        var op = new AdaptiveSplitOp(8, new float[4 * 64], [0f, 2f, 4f, 6f], 1.0 / 768, 2, false);
        int[][] shapes = [[2, 8, 343]];
        Assert.That(op.Flops(shapes), Is.EqualTo(2L * (2 * 64 * 343) + 2L * (2 * 4 * 64)));
        Assert.That(op.WeightElements, Is.EqualTo(256 + 4));
        Assert.That(op.Bytes(shapes), Is.EqualTo(4L * (2 * 8 * 343 + 2 * 4 + 256 + 4)));
        Assert.That(op.Kind.Name, Is.EqualTo("issm"));
    }
}
