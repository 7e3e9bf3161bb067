using System.Reflection;
using Dfer.Backends;
using Dfer.Backends.Cpu;
using Dfer.Devices.Cuda;
using Dfer.Ops;
using Dfer.Reference;

namespace Dfer.Tests.Ops;

/// <summary>
/// The op contract (docs/architecture.md): every op folder declares a kind, every kind is in
/// <see cref="OpRegistry"/>, has cases of its own op class, a PyTorch oracle and the kernels it claims.
/// These fail at test time for what the compiler cannot see (a forgotten registry line, a missing
/// <c>.Torch.cs</c>, a native kernel that is not declared).
/// </summary>
[TestFixture]
public class OpRegistryTests
{
    private static readonly Assembly Engine = typeof(Op).Assembly;

    private static IEnumerable<Type> ConcreteSubclasses(Type baseType) =>
        Engine.GetTypes().Where(t => !t.IsAbstract && baseType.IsAssignableFrom(t));

    [Test]
    public void EveryDeclaredKind_IsRegisteredOnce()
    {
        var registered = OpRegistry.All.Select(k => k.GetType()).ToList();
        Assert.That(registered, Is.Unique, "a kind listed twice");
        foreach (Type kind in ConcreteSubclasses(typeof(OpKind)))
            Assert.That(registered, Does.Contain(kind), $"{kind.FullName} is declared but missing from OpRegistry.All");
    }

    [Test]
    public void EveryOpClass_HasExactlyOneKind()
    {
        var byType = OpRegistry.All.ToLookup(k => k.OpType);
        foreach (Type op in ConcreteSubclasses(typeof(Op)))
            Assert.That(byType[op].Count(), Is.EqualTo(1), $"{op.FullName} needs exactly one registered OpKind");
    }

    [Test]
    public void Names_AreUniqueLowerCaseWords()
    {
        var names = OpRegistry.All.Select(k => k.Name).ToList();
        Assert.That(names, Is.Unique);
        foreach (string n in names) Assert.That(n, Does.Match("^[a-z][a-z0-9]*$"), n);
        Assert.That(OpRegistry.Find("CONV3D"), Is.SameAs(OpRegistry.Named("conv3d")));
        Assert.That(OpRegistry.Find("conv4d"), Is.Null);
        Assert.That(() => OpRegistry.Named("conv4d"), Throws.ArgumentException.With.Message.Contains("conv3d"));
    }

    [Test]
    public void EveryKind_HasNamedCasesOfItsOwnOpClass()
    {
        foreach (OpKind kind in OpRegistry.All)
        {
            var cases = OpCases.For(kind);
            Assert.That(cases, Has.Count.GreaterThanOrEqualTo(2),
                $"{kind.Name} needs a tiny and a larger case at least");
            Assert.That(cases.Select(c => c.Name), Is.Unique, $"{kind.Name} case names");
            foreach (OpCase c in cases)
            {
                Assert.That(c.Name, Does.StartWith(kind.Name + "("), c.Name);
                Assert.That(c.Op.GetType(), Is.EqualTo(kind.OpType), c.Name);
                Assert.That(c.Op.Kind, Is.SameAs(kind), $"{c.Name}: the op's Kind is not its registered kind");
                Assert.DoesNotThrow(() => c.Op.OutputShape(c.InputShapes), c.Name);
            }
        }
    }

    [Test]
    public void CasesOfAKind_DoNotDependOnOtherKinds()
    {
        // A kind's random weights come from the seed salted by its own position only.
        OpKind kind = OpRegistry.Named("linear");
        var a = OpCases.For(kind, 5).Select(c => ((Dfer.Ops.Linear.LinearOp)c.Op).Weight).ToList();
        _ = OpCases.All(5).ToList();
        var b = OpCases.For(kind, 5).Select(c => ((Dfer.Ops.Linear.LinearOp)c.Op).Weight).ToList();
        Assert.That(b, Is.EqualTo(a));
        Assert.That(OpCases.For(kind, 6).First().Op, Is.Not.SameAs(OpCases.For(kind, 5).First().Op));
    }

    [Test]
    public void EveryKind_HasAPyTorchOracle()
    {
        foreach (OpKind kind in OpRegistry.All)
            Assert.That(TorchOracle.Covers(kind), $"{kind.Name} has no {kind.OpType.Name[..^2]}.Torch.cs oracle");
    }

    [Test]
    public void EveryKind_BuildsItsCpuKernelForEveryCase()
    {
        foreach (OpCase c in OpCases.All())
        {
            var kernel = CpuBackend.Resolve(c.Op);
            Assert.That(kernel, Is.Not.Null, c.Name);
            (kernel as IDisposable)?.Dispose();
        }
    }

    [Test]
    public void NativeCudaKernels_AreDeclaredByTheirKind()
    {
        // A native kernel class (ICudaStep) in an op's namespace, and the kind's claim to have one, go together.
        foreach (OpKind kind in OpRegistry.All)
        {
            bool hasStep = Engine.GetTypes()
                .Any(t => !t.IsAbstract && typeof(ICudaStep).IsAssignableFrom(t)
                && t.Namespace == kind.OpType.Namespace);
            Assert.That(kind.HasNativeCuda, Is.EqualTo(hasStep),
                $"{kind.Name}: HasNativeCuda does not match its native kernel classes");
        }
        string described = BackendRegistry.List().Single(b => b.Name == "cuda").Description;
        foreach (OpKind kind in OpRegistry.All.Where(k => k.HasNativeCuda))
            Assert.That(described, Does.Contain(kind.Name), "the cuda backend's description lists its native kernels");
    }
}
