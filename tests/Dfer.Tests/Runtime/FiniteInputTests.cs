using Dfer.Runtime;

namespace Dfer.Tests.Runtime;

/// <summary>The input check every batch passes before a kernel sees it: SIMD and split over cores, yet it names the
/// first bad value exactly.</summary>
[TestFixture]
public class FiniteInputTests
{
    [TestCase(0)]
    [TestCase(7)]
    [TestCase(1 << 20)]              // the first value of the second part
    [TestCase((1 << 20) - 1)]        // the last value of the first part
    [TestCase(3 * (1 << 20) + 5)]
    [TestCase(3 * (1 << 20) + 99)]   // in the scalar tail of the last part
    public void FindsTheFirstNonFiniteValue_WhereverItIs(int at)
    {
        var values = new float[3 * (1 << 20) + 100];
        for (int i = 0; i < values.Length; i++) values[i] = (i % 13) - 6.5f;
        foreach (float bad in new[] { float.NaN, float.PositiveInfinity, float.NegativeInfinity })
        {
            values[at] = bad;
            Assert.That(Session.FirstNonFinite(values), Is.EqualTo(at), $"{bad} at {at}");
            // a later bad value does not hide the first one
            values[^1] = float.NaN;
            Assert.That(Session.FirstNonFinite(values), Is.EqualTo(at));
            values[^1] = 0;
            values[at] = 1;
        }
        Assert.That(Session.FirstNonFinite(values), Is.Null);
    }

    [Test]
    public void ExtremeButFiniteValues_Pass()
    {
        float[] values = [float.MaxValue, -float.MaxValue, float.Epsilon, -0f, 1e-45f, 3.4e38f, 0, 1, 2, 3, 4, 5, 6, 7,
            8, 9, 10, 11];
        Assert.That(Session.FirstNonFinite(values), Is.Null);
        Assert.That(Session.FirstNonFinite([]), Is.Null);
    }
}
