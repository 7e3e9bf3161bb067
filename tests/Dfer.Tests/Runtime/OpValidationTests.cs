using Dfer.Backends;
using Dfer.Backends.Cpu;
using Dfer.Ops;
using Dfer.Runtime;

namespace Dfer.Tests.Runtime;

/// <summary>The op matrix's judge must catch wrong values, stray writes, NaN and throwing kernels.</summary>
[TestFixture]
public class OpValidationTests
{
    /// <summary>Runs the real CPU kernel, then damages the result as told.</summary>
    private sealed class Broken(Func<GuardedOutput, GuardedOutput> damage, bool throws = false) : IOpRunner
    {
        private readonly CpuBackend _cpu = new(1);

        public bool Supports(OpKind kind) => kind != OpRegistry.Named("lstm");

        public GuardedOutput RunGuarded(Op op, IReadOnlyList<float[]> inputs, IReadOnlyList<int[]> shapes, int guard,
            float sentinel)
        {
            if (throws) throw new InvalidOperationException("device lost");
            return damage(_cpu.RunGuarded(op, inputs, shapes, guard, sentinel));
        }
    }

    private static readonly OpCase Linear = OpCases.For("linear").First(c => c.Name.StartsWith("linear(m=5"));

    [Test]
    public void HonestKernel_Passes()
    {
        var r = OpValidation.Check(new Broken(o => o), "test", Linear, 3);
        Assert.That(r.Status, Is.EqualTo(CaseStatus.Pass), r.Detail);
        Assert.That(r.Nmse, Is.LessThan(1e-10));
    }

    [Test]
    public void OneWrongValue_Fails_NamingTheWorstIndex()
    {
        var r = OpValidation.Check(new Broken(o => { o.Values[17] += 1e-3f; return o; }), "test", Linear, 3);
        Assert.That(r.Status, Is.EqualTo(CaseStatus.Fail));
        Assert.That(r.Detail, Does.Contain("[17]"));
        Assert.That(r.MaxAbsError, Is.EqualTo(1e-3).Within(1e-5));
    }

    [Test]
    public void WriteIntoTheGuardBand_Fails()
    {
        var r = OpValidation.Check(new Broken(o => o with { GuardWrites = 1 }), "test", Linear, 3);
        Assert.That(r.Status, Is.EqualTo(CaseStatus.Fail));
        Assert.That(r.Detail, Does.Contain("outside the output"));
    }

    [Test]
    public void NaN_Fails()
    {
        var r = OpValidation.Check(new Broken(o => { o.Values[0] = float.NaN; return o; }), "test", Linear, 3);
        Assert.That(r.Status, Is.EqualTo(CaseStatus.Fail));
    }

    [Test]
    public void ThrowingKernel_Fails_WithTheMessage_AndUnsupportedIsSaid()
    {
        var r = OpValidation.Check(new Broken(o => o, throws: true), "test", Linear, 3);
        Assert.That(r.Status, Is.EqualTo(CaseStatus.Fail));
        Assert.That(r.Detail, Does.Contain("device lost"));
        var lstm = OpValidation.Check(new Broken(o => o), "test", OpCases.For("lstm")[0], 3);
        Assert.That(lstm.Status, Is.EqualTo(CaseStatus.Unsupported));
    }
}
