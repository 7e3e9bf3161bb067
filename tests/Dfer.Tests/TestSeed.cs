using System.Globalization;

namespace Dfer.Tests;

/// <summary>
/// Where a test that draws random data gets its seed (docs/testing.md, "Random data and seeds"):
/// the test's own seed (a fixed one, or one drawn fresh per run where the test explores), unless
/// the environment variable <c>DFER_TEST_SEED</c> names another. The seed in use is printed to the
/// test's output with the command that replays it.
/// </summary>
internal static class TestSeed
{
    /// <summary>The environment variable that replays a seed.</summary>
    internal const string Variable = "DFER_TEST_SEED";

    /// <summary>
    /// The seed a test with the fixed seed <paramref name="fixedSeed"/> uses, printed with its replay
    /// line. Derive further seeds from the returned value, never from the constant.
    /// </summary>
    internal static ulong Use(ulong fixedSeed) => Print(FromEnvironment() ?? fixedSeed);

    /// <summary>A fresh seed for this run (or the replayed one), printed with its replay line.</summary>
    internal static ulong UseFresh() => Print(Fresh());

    /// <summary>
    /// <see cref="Use(ulong)"/> for <see cref="System.Random"/>, whose seed is an int: a replayed seed
    /// above <see cref="int.MaxValue"/> is folded into range, the same way on every run.
    /// </summary>
    internal static Random Random(int fixedSeed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(fixedSeed);
        return new Random((int)(Use((ulong)fixedSeed) % ((ulong)int.MaxValue + 1)));
    }

    /// <summary>
    /// A seed drawn fresh per process, or the replayed one; for static fields that feed a
    /// TestCaseSource. Prints nothing (there is no test yet): each test calls <see cref="Print"/>.
    /// A bad <c>DFER_TEST_SEED</c> is reported there, not here, so it fails tests, not discovery.
    /// </summary>
    internal static ulong Fresh()
    {
        try { return FromEnvironment() ?? (ulong)Environment.TickCount64; }
        catch (FormatException) { return (ulong)Environment.TickCount64; }
    }

    /// <summary>Prints <paramref name="seed"/> with its replay line to the current test's output.</summary>
    internal static ulong Print(ulong seed)
    {
        FromEnvironment();   // a bad value fails the test here, with its one line
        TestContext.Out.WriteLine(Replay(seed));
        return seed;
    }

    /// <summary>"seed 12345 (replay: DFER_TEST_SEED=12345 dotnet test --filter "…")" for the current test.</summary>
    internal static string Replay(ulong seed)
    {
        var test = TestContext.CurrentContext.Test;
        // A test's full name starts with its class and method, which select it (all its cases). A case
        // renamed with SetName does not carry the method, and its name (spaces, parentheses, '=') is more
        // than the NUnit adapter's filter parser accepts, so its whole class replays.
        string method = $"{test.ClassName}.{test.MethodName}";
        string target = test.MethodName is not null && test.FullName.StartsWith(method, StringComparison.Ordinal)
            ? method : test.ClassName!;
        return $"seed {seed} (replay: {Variable}={seed} dotnet test --filter \"FullyQualifiedName~{target}\")";
    }

    /// <summary>The replayed seed, null when <c>DFER_TEST_SEED</c> is unset or empty.</summary>
    internal static ulong? FromEnvironment() => Parse(Environment.GetEnvironmentVariable(Variable));

    /// <summary>
    /// A <c>DFER_TEST_SEED</c> value: a whole number from 0 to 2⁶⁴−1, or nothing. Anything else is
    /// refused with one line (a typo must not quietly run the default seed instead).
    /// </summary>
    internal static ulong? Parse(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        if (ulong.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out ulong seed)) return seed;
        throw new FormatException(
            $"{Variable}={SafeText.Quote(text, 40)} is not a seed: give a whole number from 0 to {ulong.MaxValue}, or "
            + "unset it");
    }
}
