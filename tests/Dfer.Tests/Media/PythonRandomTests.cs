using System.Globalization;
using System.Text.Json;
using Dfer.Media;

namespace Dfer.Tests.Media;

/// <summary>Against values committed from CPython (tests/fixtures/media/sampling.json).</summary>
[TestFixture]
public class PythonRandomTests
{
    private static JsonElement Doc()
        => JsonDocument.Parse(File.ReadAllText(MediaFixtures.PathOf("sampling.json"))).RootElement;

    private static long Seed(JsonElement e)
        => long.Parse(e.GetProperty("seed").GetRawText(), CultureInfo.InvariantCulture);

    [Test]
    public void RandomMatchesCPython()
    {
        int checkedSeeds = 0;
        foreach (JsonElement c in Doc().GetProperty("random").EnumerateArray())
        {
            var rng = new PythonRandom(Seed(c));
            foreach (JsonElement v in c.GetProperty("values").EnumerateArray())
            {
                double expected = double.Parse(v.GetString()!, CultureInfo.InvariantCulture);
                Assert.That(rng.NextDouble(), Is.EqualTo(expected), $"seed {Seed(c)}");
            }
            checkedSeeds++;
        }
        Assert.That(checkedSeeds, Is.GreaterThanOrEqualTo(8));
    }

    [Test]
    public void SpreadIndicesMatchTheOfficialLoader()
    {
        foreach (JsonElement c in Doc().GetProperty("spread").EnumerateArray())
        {
            int n = c.GetProperty("n").GetInt32();
            int[] expected = c.GetProperty("indices").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            Assert.That(FrameSampler.Spread(n, 16, null), Is.EqualTo(expected), $"N = {n}");
        }
    }

    [Test]
    public void JitteredIndicesMatchTheOfficialLoader()
    {
        foreach (JsonElement c in Doc().GetProperty("jitter").EnumerateArray())
        {
            int n = c.GetProperty("n").GetInt32();
            int[] expected = c.GetProperty("indices").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            Assert.That(FrameSampler.Spread(n, 16, new PythonRandom(Seed(c))), Is.EqualTo(expected),
                $"seed {Seed(c)}, N = {n}");
        }
    }

    [Test]
    public void WindowsAreConsecutiveAndComplete()
    {
        Assert.That(FrameSampler.Windows(15, 16), Is.Null);
        int[][] w = FrameSampler.Windows(40, 16)!;
        Assert.That(w, Has.Length.EqualTo(2));
        Assert.That(w[0], Is.EqualTo(Enumerable.Range(0, 16)));
        Assert.That(w[1], Is.EqualTo(Enumerable.Range(16, 16)));
    }
}
