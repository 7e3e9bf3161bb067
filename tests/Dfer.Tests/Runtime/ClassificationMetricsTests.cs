using Dfer.Runtime;

namespace Dfer.Tests.Runtime;

[TestFixture]
public class ClassificationMetricsTests
{
    /// <summary>
    /// Hand-computed: 3 classes; class 0: 4 samples, 3 right (recall 3/4); class 1: 2 samples,
    /// 1 right (1/2); class 2: 4 samples, 2 right (1/2). WAR = 6/10; UAR = (0.75 + 0.5 + 0.5) / 3 = 7/12.
    /// </summary>
    [Test]
    public void UarWarAndConfusion_MatchAHandComputedExample()
    {
        var pairs = new (int, int)[]
        {
            (0, 0), (0, 0), (0, 0), (0, 2),
            (1, 1), (1, 0),
            (2, 2), (2, 2), (2, 1), (2, 0),
        };
        var m = ClassificationMetrics.Compute(pairs, 3);
        Assert.That(m.Total, Is.EqualTo(10));
        Assert.That(m.War, Is.EqualTo(0.6).Within(1e-15));
        Assert.That(m.Uar, Is.EqualTo(7.0 / 12).Within(1e-15));
        Assert.That(m.Recall, Is.EqualTo(new[] { 0.75, 0.5, 0.5 }).Within(1e-15));
        Assert.That(m.Support, Is.EqualTo(new long[] { 4, 2, 4 }));
        Assert.That(m.Confusion, Is.EqualTo(new int[,] { { 3, 0, 1 }, { 1, 1, 0 }, { 1, 1, 2 } }));
    }

    [Test]
    public void ClassWithoutSamples_HasNoRecall_AndIsLeftOutOfUar()
    {
        // Class 1 never occurs as a target; predicting it still counts against the others.
        var m = ClassificationMetrics.Compute(new (int, int)[] { (0, 0), (0, 1), (2, 2) }, 3);
        Assert.That(double.IsNaN(m.Recall[1]));
        Assert.That(m.Uar, Is.EqualTo((0.5 + 1.0) / 2).Within(1e-15));
        Assert.That(m.War, Is.EqualTo(2.0 / 3).Within(1e-15));
    }

    [Test]
    public void NoSamples_GiveNaN_NotZero()
    {
        var m = ClassificationMetrics.Compute(Array.Empty<(int, int)>(), 7);
        Assert.That(double.IsNaN(m.Uar) && double.IsNaN(m.War));
    }

    [Test]
    public void OutOfRangeClass_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => ClassificationMetrics.Compute(new (int, int)[] { (0, 7) }, 7));
    }
}
