using Dfer.Ops.FrameSample;

namespace Dfer.Tests.Ops;

/// <summary>ISSM's sampling positions as ifdd.md §3.5.1 lists them, and the op's cost accounting.</summary>
[TestFixture]
public class FrameSampleTests
{
    [Test]
    public void PositionsOfTheBaseIndices_AreTheSpecsNotThePlainFrames()
    {
        var op = new FrameSampleOp(7);
        double[] even = [0, 2, 4, 6], odd = [1, 3, 5, 7];
        Assert.That(even.Select(i => op.Position(i, 8)),
            Is.EqualTo(new[] { 0, 16.0 / 7 - 0.5, 32.0 / 7 - 0.5, 48.0 / 7 - 0.5 }).Within(1e-12));
        Assert.That(even.Select(i => Math.Round(op.Position(i, 8), 3)), Is.EqualTo(new[] { 0, 1.786, 4.071, 6.357 }));
        Assert.That(odd.Select(i => Math.Round(op.Position(i, 8), 3)), Is.EqualTo(new[] { 0.643, 2.929, 5.214, 7 }));
        Assert.That(op.Position(-2, 8), Is.Zero, "clamped at the first frame");
        Assert.That(op.Position(9.9, 8), Is.EqualTo(7), "clamped at the last frame");
    }

    [Test]
    public void Cost_ThreeFlopsAndTwoReadsPerOutput()
    {
        var op = new FrameSampleOp(7);
        int[][] shapes = [[2, 8, 49, 768], [2, 4]];
        long outputs = 2L * 4 * 49 * 768;
        Assert.That(op.OutputShape(shapes), Is.EqualTo(new[] { 2, 4, 49, 768 }));
        Assert.That(op.Flops(shapes), Is.EqualTo(3 * outputs));
        Assert.That(op.Bytes(shapes), Is.EqualTo(4 * (8 + 3 * outputs)));
    }
}
