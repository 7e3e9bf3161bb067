using Dfer.Backends;
using Dfer.Ops;
using Dfer.Ops.MaxPool3d;
using Dfer.Runtime;

namespace Dfer.Tests.Ops;

/// <summary>NaN never passes silently: ops that select (max-pool) must carry a NaN in their window to the
/// output.</summary>
[TestFixture]
public class NanPropagationTests
{
    [TestCase("cpu")]
    [TestCase("ilgpu-cpu")]
    public void MaxPool3d_NaNInAWindow_ReachesThatOutput(string backendName)
    {
        // 19 channels: two full 8-wide vectors and a scalar tail on the CPU.
        var op = new MaxPool3dOp((1, 3, 3), (1, 2, 2), (0, 1, 1));
        int[] shape = [1, 2, 5, 5, 19];
        float[] x = new Dfer.Tensors.DeterministicRandom(TestSeed.Use(3)).Uniform(2 * 5 * 5 * 19, -1f, 1f);
        // A NaN early in some windows (so later numbers must not replace it) and in the tail channels.
        foreach (int pos in new[] { 0, 6 * 19 + 3, 12 * 19 + 17, (25 + 24) * 19 + 18 }) x[pos] = float.NaN;
        double[] expected = ReferenceOracle.Instance.Run(op, [x.Select(v => (double)v).ToArray()], [shape]);
        Assert.That(expected.Count(double.IsNaN), Is.GreaterThan(3), "the case puts NaN into several windows");

        using IBackend backend = BackendRegistry.Create(backendName, threads: 2);
        GuardedOutput y = ((IOpRunner)backend).RunGuarded(op, [x], [shape], 16, 1234.5f);

        Comparison cmp = Numerics.Compare(y.Values, expected);
        Assert.That(cmp.NanParity, Is.True, cmp.ToString());
        Assert.That(cmp.Passed, Is.True, cmp.ToString());
    }
}
