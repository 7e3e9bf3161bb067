using Dfer.Backends;
using Dfer.Backends.Cpu;
using Dfer.Devices.Cpu;
using Dfer.Ops;
using Dfer.Ops.AddAct;
using Dfer.Ops.BoxDecode;
using Dfer.Ops.Softmax;
using Dfer.Runtime;
using Dfer.Tensors;

namespace Dfer.Tests.Ops;

/// <summary>
/// The CPU kernels of softmax, boxdecode and addact on NaN, ±∞ and −0, on both their paths (eight-lane vectors and
/// the portable one) and on sizes that leave vector tails: what the Reference gives, NaN and ∞ exactly where it
/// has them. The op matrix draws finite inputs only.
/// </summary>
[TestFixture]
public class SpecialValuesCpuTests
{
    private static GuardedOutput Run(bool portable, Op op, float[][] x, int[][] shapes)
    {
        using var cpu = new CpuBackend(2, new CpuVariants { Portable = portable });
        GuardedOutput y = cpu.RunGuarded(op, x, shapes, 16, 1234.5f);
        Assert.That(y.GuardWrites, Is.Zero, "wrote outside its output");
        return y;
    }

    private static double[] Reference(Op op, float[][] x, int[][] shapes) =>
        ReferenceOracle.Instance.Run(op, x.Select(a => a.Select(v => (double)v).ToArray()).ToArray(), shapes);

    private static void AssertMatches(float[] actual, double[] expected)
    {
        Comparison cmp = Numerics.Compare(actual, expected);
        Assert.That(cmp.NanParity, Is.True, cmp.ToString());
        Assert.That(cmp.Passed, Is.True, cmp.ToString());
    }

    [Test]
    public void Softmax_RowsWithNaNAndInfinities_AsTheReference(
        [Values(1, 7, 8, 13, 19)] int n, [Values(false, true)] bool portable)
    {
        const int Rows = 8;
        float[] x = new DeterministicRandom(TestSeed.Use(17)).Uniform(Rows * n, -5f, 5f);
        int last = n - 1, mid = n / 2;
        x[1 * n + last] = float.NaN;                                          // NaN: the row is NaN
        x[2 * n + mid] = float.PositiveInfinity;                              // +∞: the row is NaN
        for (int i = 0; i < n; i++) x[3 * n + i] = float.NegativeInfinity;    // all −∞: NaN
        x[4 * n + last] = float.NegativeInfinity;                             // −∞ beside finite: 0 there
        x[4 * n] = float.NegativeInfinity;
        x[5 * n] = float.PositiveInfinity; x[5 * n + last] = float.NegativeInfinity;
        x[6 * n + last] = float.PositiveInfinity; x[6 * n] = float.NaN;
        for (int i = 0; i < n; i++) x[7 * n + i] = 80f + i;                   // e^x alone would overflow
        int[][] shapes = [[Rows, n]];
        double[] expected = Reference(new SoftmaxOp(), [x], shapes);
        Assert.That(expected.Skip(3 * n).Take(n).All(double.IsNaN), Is.True, "an all −∞ row is NaN");
        if (n > 2) Assert.That(expected[4 * n + last], Is.Zero, "−∞ beside finite values is 0");

        float[] y = Run(portable, new SoftmaxOp(), [x], shapes).Values;
        AssertMatches(y, expected);
        for (int r = 0; r < Rows; r++)
            for (int i = 0; i < n; i++)
                Assert.That(float.IsNaN(y[r * n + i]), Is.EqualTo(double.IsNaN(expected[r * n + i])), $"[{r}, {i}]");
        if (n > 2) Assert.That(y[4 * n + last], Is.Zero);
    }

    [Test]
    public void BoxDecode_NaNAndInfinitiesInEveryRole_AsTheReference([Values(false, true)] bool portable)
    {
        // 1·3·7 cells × 2 anchors × 5 = 210 values: 26 eight-lane vectors and a tail of 2.
        var op = new BoxDecodeOp([1.5f, 4f], [2f, 0.75f]);
        int[][] shapes = [[1, 3, 7, 10]];
        float[] x = new DeterministicRandom(TestSeed.Use(19)).Uniform(210, -3f, 3f);
        float[] special = [float.NaN, float.PositiveInfinity, float.NegativeInfinity];
        // Box b, role t: every special value in every role, in the vector part and in the last box (the tail).
        int box = 0;
        foreach (float v in special)
            for (int t = 0; t < 5; t++, box += 2)
                x[box * 5 + t] = v;
        x[41 * 5 + 4] = float.NaN; x[41 * 5 + 2] = float.PositiveInfinity; x[41 * 5 + 1] = float.NegativeInfinity;
        x[40 * 5 + 0] = 100f; x[40 * 5 + 1] = -100f; x[40 * 5 + 4] = -100f;
        double[] expected = Reference(op, [x], shapes);
        Assert.That(expected.Count(double.IsNaN), Is.GreaterThan(10), "the case makes NaN boxes");
        Assert.That(expected.Count(double.IsInfinity), Is.GreaterThan(2), "the case makes infinite boxes");

        AssertMatches(Run(portable, op, [x], shapes).Values, expected);
    }

    [Test]
    public void AddAct_SpecialValues_AreTheFloatSumThenTheActivation(
        [Values] Activation act, [Values(1, 3, 4)] int inputs, [Values(false, true)] bool portable)
    {
        // 37 elements: four eight-lane vectors and a tail of 5; special values in both.
        const int N = 37;
        var rng = new DeterministicRandom(TestSeed.Use(23));
        float[][] x = Enumerable.Range(0, inputs).Select(_ => rng.Uniform(N, -2f, 2f)).ToArray();
        foreach (int at in new[] { 3, 35 })
        {
            x[0][at] = float.NaN;
            x[0][at + 1] = float.PositiveInfinity;
            x[0][at - 1] = float.NegativeInfinity;
            if (inputs > 1) x[^1][at - 1] = float.PositiveInfinity;   // −∞ + … + ∞ = NaN
            for (int j = 0; j < inputs; j++) x[j][at - 2] = -0f;        // −0 + −0 = −0: ReLU gives +0
        }
        int[][] shapes = Enumerable.Repeat(new[] { N }, inputs).ToArray();
        var op = new AddActOp(inputs, act);

        float[] y = Run(portable, op, x, shapes).Values;
        AssertMatches(y, Reference(op, x, shapes));
        // Exactly the float sum, left to right, through the scalar activation: signed zeros and NaN included.
        for (int i = 0; i < N; i++)
        {
            float s = x[0][i];
            for (int j = 1; j < inputs; j++) s += x[j][i];
            float want = ActivationMath.Apply(act, s);
            Assert.That(BitConverter.SingleToInt32Bits(y[i]) == BitConverter.SingleToInt32Bits(want)
                || (float.IsNaN(y[i]) && float.IsNaN(want)), Is.True, $"[{i}]: got {y[i]}, want {want}");
        }
    }
}
