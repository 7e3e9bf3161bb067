using Dfer.Backends;
using Dfer.Ops;
using Dfer.Ops.TokenMaxPool;
using Dfer.Ops.TokenPool;
using Dfer.Primitives;
using Dfer.Runtime;
using Dfer.Tensors;

namespace Dfer.Tests.Ops;

/// <summary>
/// tokenpool (MViTv2's Pool on one qkv part, ifdd.md §3.3 step 3) and tokenmaxpool (pool_skip, step 9):
/// hand-checked values, the class token's treatment, kernels against the Reference on strided IFDD-like
/// shapes, NaN propagation, cost accounting and argument checks.
/// </summary>
[TestFixture]
public class TokenPoolTests
{
    private static readonly string[] Kernels = ["cpu", "ilgpu-cpu"];

    /// <summary>
    /// parts 2 (this is part 1), one head, d 2, grid 1×1×2. Conv k 1×1×3, pad (0,0,1), stride 1, weights
    /// ch0 = [1, 0.5, 1], ch1 = [−1.5, 1, −0.5], no bias; LN eps 1, weight [2, 3], bias [0.5, −1].
    /// Part 1 of the tokens: class c = [1.5, 3], x1 = [1, 0.5], x2 = [2, −1]; part 0 holds large values that must be
    /// ignored. Pooled token 0 (window −1..1): [0.5·1 + 1·2, 1·0.5 − 0.5·(−1)] = [2.5, 1];
    /// pooled token 1 (window 0..2): [1·1 + 0.5·2, −1.5·0.5 + 1·(−1)] = [2, −1.75].
    /// LN of a 2-vector with half-difference δ is [r, −r]·w + b, r = δ/√(δ² + 1): δ = −0.75, 0.75, 1.875
    /// give r = −0.6, 0.6, 15/17. The class token is normalised but not convolved.
    /// </summary>
    private static TokenPoolOp HandOp() =>
        new(2, 1, 1, (1, 1, 2),
            new DepthwiseConv3dWeights(2, (1, 1, 3), (1, 1, 1), (0, 0, 1), [1f, 0.5f, 1f, -1.5f, 1f, -0.5f], null),
            new LayerNormWeights(2, [2f, 3f], [0.5f, -1f], 1.0));

    private static readonly float[] HandInput =
    [
        99f, -99f, 1.5f, 3f,     // class token: part 0, part 1
        50f, -70f, 1f, 0.5f,     // x1
        -30f, 40f, 2f, -1f,      // x2
    ];

    private static readonly int[] HandShape = [1, 3, 4];

    private static double[] HandExpected()
    {
        double r = 15.0 / 17.0;
        return [-1.2 + 0.5, 1.8 - 1, 1.2 + 0.5, -1.8 - 1, 2 * r + 0.5, -3 * r - 1];
    }

    [Test]
    public void TokenPool_HandChecked_Reference()
    {
        var op = HandOp();
        Assert.That(op.OutGrid, Is.EqualTo((1, 1, 2)));
        Assert.That(op.OutputShape([HandShape]), Is.EqualTo(new[] { 1, 1, 3, 2 }));
        double[] y = TokenPoolReference.Run(op, HandInput.Select(v => (double)v).ToArray(), HandShape);
        Assert.That(y, Is.EqualTo(HandExpected()).Within(1e-12));
    }

    [TestCaseSource(nameof(Kernels))]
    public void TokenPool_HandChecked_Kernels(string backendName)
    {
        using IBackend backend = BackendRegistry.Create(backendName, threads: 2);
        GuardedOutput y = ((IOpRunner)backend).RunGuarded(HandOp(), [HandInput], [HandShape], 16, 1234.5f);
        Assert.That(y.GuardWrites, Is.Zero);
        Assert.That(y.Values.Select(v => (double)v), Is.EqualTo(HandExpected()).Within(1e-5));
    }

    private static TokenPoolOp RandomOp(int parts, int part, int heads, int d, (int, int, int) grid,
        (int, int, int) stride, ulong seed)
    {
        var rng = new DeterministicRandom(seed);
        var conv = new DepthwiseConv3dWeights(d, (3, 3, 3), stride, (1, 1, 1), rng.Uniform(d * 27, -0.35f, 0.35f),
            null);
        var norm = new LayerNormWeights(d, rng.Uniform(d, 0.5f, 1.5f), rng.Uniform(d, -0.5f, 0.5f), 1e-6);
        return new TokenPoolOp(parts, part, heads, grid, conv, norm);
    }

    /// <summary>
    /// The class token: each (b, head)'s output token 0 is LN(its class token) computed here independently, and
    /// changing only the class tokens changes only output token 0 (it never enters the convolution).
    /// </summary>
    [TestCase("reference")]
    [TestCase("cpu")]
    [TestCase("ilgpu-cpu")]
    public void TokenPool_ClassToken_IsNormalisedNotConvolved(string backendName)
    {
        ulong seed = TestSeed.Use(21);
        var op = RandomOp(3, 1, 2, 5, (3, 5, 4), (1, 2, 3), seed);
        int b = 2, d = 5, heads = 2, p = op.InChannels;
        int[] xs = [b, op.InTokens, p];
        var rng = new DeterministicRandom(seed + 1);
        float[] x1 = rng.Uniform(b * op.InTokens * p, -1f, 1f);
        // x2: fresh class tokens (not an affine map of the old ones, which LN would cancel), the rest as in x1.
        float[] x2 = (float[])x1.Clone();
        float[] fresh = rng.Uniform(b * p, -2f, 2f);
        for (int bi = 0; bi < b; bi++)
            for (int c = 0; c < p; c++)
                x2[bi * op.InTokens * p + c] = fresh[bi * p + c];
        double[] y1 = Run(backendName, op, x1, xs), y2 = Run(backendName, op, x2, xs);
        double tol = backendName == "reference" ? 1e-12 : 1e-5;
        int rowsPerHead = op.OutTokens;
        for (int bi = 0; bi < b; bi++)
            for (int h = 0; h < heads; h++)
            {
                long row0 = ((long)bi * heads + h) * rowsPerHead;
                foreach (var (x, y) in new[] { (x1, y1), (x2, y2) })
                {
                    double[] cls = Enumerable.Range(0, d)
                        .Select(j => (double)x[bi * op.InTokens * p + (op.Part * heads + h) * d + j]).ToArray();
                    double[] expected = Ln(op.Norm, cls);
                    Assert.That(y.Skip((int)(row0 * d)).Take(d), Is.EqualTo(expected).Within(tol),
                        $"b {bi} head {h}: output token 0 is LN(class token)");
                }
                Assert.That(y1.Skip((int)(row0 * d)).Take(d),
                    Is.Not.EqualTo(y2.Skip((int)(row0 * d)).Take(d)).Within(1e-3),
                    "the class token reaches output token 0");
                Assert.That(y2.Skip((int)((row0 + 1) * d)).Take((rowsPerHead - 1) * d),
                    Is.EqualTo(y1.Skip((int)((row0 + 1) * d)).Take((rowsPerHead - 1) * d)).Within(tol),
                    $"b {bi} head {h}: pooled tokens do not depend on the class token");
            }
    }

    /// <summary>LayerNorm of one vector, written out here (biased variance).</summary>
    private static double[] Ln(LayerNormWeights n, double[] v)
    {
        double mean = v.Average(), var = v.Select(a => (a - mean) * (a - mean)).Average();
        return v.Select((a, j) => (a - mean) / Math.Sqrt(var + n.Eps) * n.Weight[j] + n.Bias[j]).ToArray();
    }

    private static double[] Run(string backendName, Op op, float[] x, int[] xs)
    {
        if (backendName == "reference")
            return ReferenceOracle.Instance.Run(op, [x.Select(v => (double)v).ToArray()], [xs]);
        using IBackend backend = BackendRegistry.Create(backendName, threads: 2);
        GuardedOutput y = ((IOpRunner)backend).RunGuarded(op, [x], [xs], 16, 1234.5f);
        Assert.That(y.GuardWrites, Is.Zero);
        return y.Values.Select(v => (double)v).ToArray();
    }

    /// <summary>IFDD block 2's k (8×28×28, 2 heads, stride 1×4×4, part 1 of 3) at batch 2, and block 8's q
    /// (8×14×14, 8 heads, 1×2×2).</summary>
    [TestCase("cpu", 1, 2, 28, 4)]
    [TestCase("ilgpu-cpu", 1, 2, 28, 4)]
    [TestCase("cpu", 0, 8, 14, 2)]
    [TestCase("ilgpu-cpu", 0, 8, 14, 2)]
    public void TokenPool_StridedIfddShape_MatchesReference(string backendName, int part, int heads, int hw, int s)
    {
        ulong seed = TestSeed.Use(31);
        var op = RandomOp(3, part, heads, 96, (8, hw, hw), (1, s, s), seed);
        int[] xs = [2, op.InTokens, op.InChannels];
        float[] x = new DeterministicRandom(seed + 1).Uniform(2L * op.InTokens * op.InChannels, -1f, 1f);
        double[] expected = ReferenceOracle.Instance.Run(op, [x.Select(v => (double)v).ToArray()], [xs]);
        using IBackend backend = BackendRegistry.Create(backendName, threads: 2);
        GuardedOutput y = ((IOpRunner)backend).RunGuarded(op, [x], [xs], 16, 1234.5f);
        Assert.That(y.GuardWrites, Is.Zero);
        Comparison cmp = Numerics.Compare(y.Values, expected);
        Assert.That(cmp.Passed, Is.True, cmp.ToString());
    }

    [Test]
    public void TokenPool_Cost_And_Checks()
    {
        // parts 3, part 1, 2 heads of d 4, grid 2×3×4, k 3, pad 1, stride 1×2×2 → out grid 2×2×2, 9 tokens.
        var op = RandomOp(3, 1, 2, 4, (2, 3, 4), (1, 2, 2), 41);
        int[][] shapes = [[1, 25, 24]];
        Assert.That(op.OutGrid, Is.EqualTo((2, 2, 2)));
        Assert.That(op.OutputShape(shapes), Is.EqualTo(new[] { 1, 2, 9, 4 }));
        Assert.That(op.WeightElements, Is.EqualTo(4 * 27 + 2 * 4));
        // conv: 2 volumes × 8 positions × 4 channels × 27 taps MACs; norm: 8 per element of [1, 2, 9, 4].
        Assert.That(op.Flops(shapes), Is.EqualTo(2L * 2 * 8 * 4 * 27 + 8L * 72));
        // This part's slice of X (25 tokens × 2 heads × 4), the output (72) and the weights (116).
        Assert.That(op.Bytes(shapes), Is.EqualTo(4L * (200 + 72 + 116)));

        Assert.Throws<ArgumentException>(() => op.OutputShape([[1, 24, 24]]));
        Assert.Throws<ArgumentException>(() => op.OutputShape([[1, 25, 16]]));
        var conv = op.Conv;
        var norm = op.Norm;
        Assert.Throws<ArgumentException>(() => new TokenPoolOp(3, 3, 2, (2, 3, 4), conv, norm));
        Assert.Throws<ArgumentException>(() => new TokenPoolOp(3, -1, 2, (2, 3, 4), conv, norm));
        Assert.Throws<ArgumentException>(() => new TokenPoolOp(0, 0, 2, (2, 3, 4), conv, norm));
        Assert.Throws<ArgumentException>(() => new TokenPoolOp(3, 1, 0, (2, 3, 4), conv, norm));
        Assert.Throws<ArgumentException>(() => new TokenPoolOp(3, 1, 2, (0, 3, 4), conv, norm));
        Assert.Throws<ArgumentException>(
            () => new TokenPoolOp(3, 1, 2, (2, 3, 4), conv, new LayerNormWeights(5, new float[5], new float[5], 1e-6)));
        // A grid the unpadded kernel does not fit.
        var tight = new DepthwiseConv3dWeights(4, (3, 3, 3), (1, 1, 1), (0, 0, 0), new float[4 * 27], null);
        Assert.Throws<ArgumentException>(() => new TokenPoolOp(3, 1, 2, (2, 3, 4), tight, norm));
    }

    /// <summary>
    /// Grid 1×1×3, C 2, k 1×1×3, stride 1×1×2, pad 0×0×1 → 2 pooled tokens: window −1..1 holds x1, x2 and
    /// window 1..3 holds x2, x3. The class token is copied unchanged.
    /// </summary>
    [TestCase("reference")]
    [TestCase("cpu")]
    [TestCase("ilgpu-cpu")]
    public void TokenMaxPool_HandChecked(string backendName)
    {
        var op = new TokenMaxPoolOp((1, 1, 3), (1, 1, 3), (1, 1, 2), (0, 0, 1));
        Assert.That(op.OutGrid, Is.EqualTo((1, 1, 2)));
        float[] x = [7f, -7f, 1f, 5f, 3f, -2f, -4f, 0f];
        double[] y = Run(backendName, op, x, [1, 4, 2]);
        Assert.That(y, Is.EqualTo(new double[] { 7, -7, 3, 5, 3, 0 }));
    }

    /// <summary>IFDD block 3's pool_skip (8×28×28, C 384) at batch 2 against the Reference.</summary>
    [TestCaseSource(nameof(Kernels))]
    public void TokenMaxPool_IfddShape_MatchesReference(string backendName)
    {
        var op = new TokenMaxPoolOp((8, 28, 28), (1, 3, 3), (1, 2, 2), (0, 1, 1));
        int[] xs = [2, op.InTokens, 384];
        float[] x = new DeterministicRandom(TestSeed.Use(51)).Uniform(2L * op.InTokens * 384, -1f, 1f);
        double[] expected = ReferenceOracle.Instance.Run(op, [x.Select(v => (double)v).ToArray()], [xs]);
        double[] y = Run(backendName, op, x, xs);
        Assert.That(y, Is.EqualTo(expected), "max-pooling selects, so results are exact");
    }

    /// <summary>A NaN in a window reaches that output (as MaxPool3dOp's kernels), and a NaN class token is
    /// copied.</summary>
    [TestCase("reference")]
    [TestCase("cpu")]
    [TestCase("ilgpu-cpu")]
    public void TokenMaxPool_NaN_Propagates(string backendName)
    {
        var op = new TokenMaxPoolOp((2, 5, 5), (1, 3, 3), (1, 2, 2), (0, 1, 1));
        int c = 19, b = 2;
        int[] xs = [b, op.InTokens, c];
        float[] x = new DeterministicRandom(TestSeed.Use(61)).Uniform((long)b * op.InTokens * c, -1f, 1f);
        // Batch 0: a NaN class-token channel and a NaN early in a window; batch 1: a NaN in the tail channels.
        foreach (int pos in new[] { 4, (1 + 6) * c + 3, (op.InTokens + 1 + 37) * c + 18 }) x[pos] = float.NaN;
        double[] expected = ReferenceOracle.Instance.Run(op, [x.Select(v => (double)v).ToArray()], [xs]);
        Assert.That(double.IsNaN(expected[4]), Is.True);
        Assert.That(expected.Count(double.IsNaN), Is.GreaterThan(3), "the case puts NaN into several windows");
        double[] y = Run(backendName, op, x, xs);
        Assert.That(y.Select(double.IsNaN), Is.EqualTo(expected.Select(double.IsNaN)));
        Assert.That(y.Where(v => !double.IsNaN(v)), Is.EqualTo(expected.Where(v => !double.IsNaN(v))));
    }

    [Test]
    public void TokenMaxPool_Cost_And_Checks()
    {
        // B 1, grid 2×5×5, C 3, k 1×3×3, s 1×2×2, p 0×1×1 → grid 2×3×3: 54 outputs × 9 comparisons.
        var op = new TokenMaxPoolOp((2, 5, 5), (1, 3, 3), (1, 2, 2), (0, 1, 1));
        int[][] shapes = [[1, 51, 3]];
        Assert.That(op.OutputShape(shapes), Is.EqualTo(new[] { 1, 19, 3 }));
        Assert.That(op.Flops(shapes), Is.EqualTo(54L * 9));
        Assert.That(op.Bytes(shapes), Is.EqualTo(4L * (153 + 57)));
        Assert.That(op.WeightElements, Is.Zero);
        Assert.Throws<ArgumentException>(() => op.OutputShape([[1, 50, 3]]));
        Assert.Throws<ArgumentException>(() => op.OutputShape([[1, 51]]));
        Assert.Throws<ArgumentException>(() => new TokenMaxPoolOp((2, 0, 5), (1, 3, 3), (1, 2, 2), (0, 1, 1)));
        Assert.Throws<ArgumentException>(() => new TokenMaxPoolOp((1, 1, 1), (3, 3, 3), (1, 1, 1), (0, 0, 0)));
    }
}
