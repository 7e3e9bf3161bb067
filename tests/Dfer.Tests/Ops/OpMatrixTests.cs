using Dfer.Backends;
using Dfer.Ops;
using Dfer.Runtime;

namespace Dfer.Tests.Ops;

/// <summary>
/// The op matrix: every op case on every backend against the float64 Reference (docs/architecture.md,
/// "Checking numerics"). A backend that cannot run here is Ignored with its reason, never passed.
/// </summary>
[TestFixture]
[NonParallelizable]
public class OpMatrixTests
{
    // Fresh weights and inputs every run; the seed is printed with a failure so it can be replayed.
    private static readonly ulong Seed = TestSeed.Fresh();

    private static readonly Dictionary<string, IBackend> Backends = new();

    public static IEnumerable<TestCaseData> Cases() =>
        from b in BackendRegistry.List().Where(b => !b.IsOracle)
        from c in OpCases.All(Seed)
        select new TestCaseData(b.Name, c).SetName($"{b.Name} {c.Name}");

    [OneTimeTearDown]
    public void TearDown()
    {
        foreach (var b in Backends.Values) b.Dispose();
        Backends.Clear();
    }

    [TestCaseSource(nameof(Cases))]
    public void MatchesReference(string backendName, OpCase c)
    {
        BackendInfo info = BackendRegistry.List().Single(b => b.Name == backendName);
        if (info.UnavailableReason is string reason) Assert.Ignore($"{backendName}: {reason}");
        if (!info.Supports(c.Op.Kind)) Assert.Ignore($"{backendName} declares {c.Op.Kind.Name} unsupported");
        if (!Backends.TryGetValue(backendName, out IBackend? backend))
            Backends[backendName] = backend = BackendRegistry.Create(backendName, threads: 2);
        var runner = (IOpRunner)backend;

        CaseResult r = OpValidation.Check(runner, backendName, c, TestSeed.Print(Seed));

        Assert.That(r.Status, Is.EqualTo(CaseStatus.Pass), $"{r.Detail} (seed {Seed})");
    }

    /// <summary>Every op has cases, and every backend says for every op whether it runs it.</summary>
    [Test]
    public void EveryOpHasCases_AndEveryBackendDeclaresEveryOp()
    {
        foreach (OpKind kind in OpRegistry.All)
        {
            var cases = OpCases.For(kind);
            Assert.That(cases, Is.Not.Empty, $"{kind.Name} has no op cases");
            Assert.That(cases, Has.Count.GreaterThanOrEqualTo(2),
                $"{kind.Name} needs a tiny and a larger case at least");
            foreach (BackendInfo b in BackendRegistry.List().Where(b => !b.IsOracle))
                Assert.DoesNotThrow(() => b.Supports(kind), $"{b.Name} does not declare {kind.Name}");
        }
        // The backends this release ships run every op.
        foreach (string name in new[] { "cpu", "ilgpu-cpu", "ilgpu-cuda" })
            Assert.That(OpRegistry.All.All(BackendRegistry.List().Single(b => b.Name == name).Supports),
                $"{name} lacks an op");
    }

    /// <summary>The registry's claims match what a created backend answers.</summary>
    [Test]
    public void CreatedBackends_AnswerLikeTheRegistry()
    {
        foreach (BackendInfo info in BackendRegistry.List().Where(b => b.Available && !b.IsOracle))
        {
            using IBackend backend = BackendRegistry.Create(info.Name, threads: 2);
            var runner = backend as IOpRunner;
            Assert.That(runner, Is.Not.Null, $"{info.Name} runs single ops");
            foreach (OpKind kind in OpRegistry.All)
                Assert.That(runner!.Supports(kind), Is.EqualTo(info.Supports(kind)), $"{info.Name} {kind.Name}");
        }
    }
}
