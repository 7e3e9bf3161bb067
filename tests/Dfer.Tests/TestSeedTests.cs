namespace Dfer.Tests;

/// <summary>The seed mechanism of tests that draw random data (TestSeed.cs, docs/testing.md).</summary>
[TestFixture]
[NonParallelizable]   // sets DFER_TEST_SEED for the process while it runs
public class TestSeedTests
{
    private static void With(string? value, Action check)
    {
        string? saved = Environment.GetEnvironmentVariable(TestSeed.Variable);
        Environment.SetEnvironmentVariable(TestSeed.Variable, value);
        try { check(); }
        finally { Environment.SetEnvironmentVariable(TestSeed.Variable, saved); }
    }

    [Test]
    public void Unset_GivesTheTestsOwnSeed()
    {
        With(null, () =>
        {
            Assert.That(TestSeed.Use(11), Is.EqualTo(11UL));
            Assert.That(TestSeed.Random(21).Next(), Is.EqualTo(new Random(21).Next()));
        });
        With("", () => Assert.That(TestSeed.Use(5), Is.EqualTo(5UL)));
    }

    [Test]
    public void Set_ReplacesEverySeed()
    {
        With("424242", () =>
        {
            Assert.That(TestSeed.Use(11), Is.EqualTo(424242UL));
            Assert.That(TestSeed.UseFresh(), Is.EqualTo(424242UL));
            Assert.That(TestSeed.Fresh(), Is.EqualTo(424242UL));
            Assert.That(TestSeed.Random(21).Next(), Is.EqualTo(new Random(424242).Next()));
        });
        // Random takes an int: a larger seed folds into range (2^32 mod 2^31 = 0), the same way every time.
        With("4294967296", () => Assert.That(TestSeed.Random(21).Next(), Is.EqualTo(new Random(0).Next())));
        With(" 18446744073709551615 ", () => Assert.That(TestSeed.Use(1), Is.EqualTo(ulong.MaxValue)));
    }

    [TestCase("seven")]
    [TestCase("-1")]
    [TestCase("1.5")]
    [TestCase("0x10")]
    [TestCase("18446744073709551616")]
    [TestCase("12\n34")]
    public void BadValue_IsRefusedWithOneLine(string value)
    {
        With(value, () =>
        {
            var e = Assert.Throws<FormatException>(() => TestSeed.Use(11))!;
            Assert.That(e.Message,
                Does.StartWith("DFER_TEST_SEED=").And.Contain("is not a seed").And.Not.Contain("\n"));
            Assert.Throws<FormatException>(() => TestSeed.Print(3));
            // A static field's seed does not fail discovery; the test that prints it fails instead.
            Assert.DoesNotThrow(() => TestSeed.Fresh());
        });
    }

    [Test]
    public void ReplayLine_NamesTheSeedAndTheTest()
    {
        Assert.That(TestSeed.Replay(12345), Is.EqualTo(
            "seed 12345 (replay: DFER_TEST_SEED=12345 dotnet test "
            + "--filter \"FullyQualifiedName~Dfer.Tests.TestSeedTests.ReplayLine_NamesTheSeedAndTheTest\")"));
    }

    public static IEnumerable<TestCaseData> Renamed() => [new TestCaseData(7).SetName("seeded op(n=2,c=3)")];

    /// <summary>A case renamed with SetName replays through its class: the adapter cannot filter on such
    /// names.</summary>
    [TestCaseSource(nameof(Renamed))]
    public void ReplayLine_OfARenamedCase_NamesItsClass(int seed)
    {
        Assert.That(TestSeed.Replay((ulong)seed), Is.EqualTo(
            "seed 7 (replay: DFER_TEST_SEED=7 dotnet test --filter \"FullyQualifiedName~Dfer.Tests.TestSeedTests\")"));
    }
}
