using Dfer.Backends.Cpu;
using Dfer.Backends.Reference;
using Dfer.Devices.Cpu;
using Dfer.Ops;
using Dfer.Ops.Conv3d;
using Dfer.Runtime;
using Dfer.Tensors;

namespace Dfer.Tests.Ops;

/// <summary>
/// What the op matrix (OpMatrixTests) does not cover for the CPU backend: the portable path of the
/// conv3d tile, each conv3d variant on every shape it could take, and halo-aware outputs.
/// </summary>
[TestFixture]
public class CpuKernelTests
{
    private CpuBackend _cpu = null!;

    [OneTimeSetUp] public void SetUp() => _cpu = new CpuBackend(2);
    [OneTimeTearDown] public void TearDown() => _cpu.Dispose();

    // Fresh weights and inputs every run; the seed is printed so a failure can be replayed.
    private static readonly ulong Seed = TestSeed.Fresh();

    /// <summary>The ops whose CPU kernels have an intrinsics path and a separate portable one.</summary>
    private static readonly OpKind[] TwoPathKinds = [OpRegistry.Named("conv3d"), OpRegistry.Named("linear"), OpRegistry.Named("gelu"), OpRegistry.Named("relposattn"), OpRegistry.Named("lifting")];

    public static IEnumerable<TestCaseData> PortableCases() =>
        TwoPathKinds.SelectMany(k => OpCases.For(k, Seed)).Select(c => new TestCaseData(c).SetName("portable " + c.Name));

    /// <summary>Both paths must be right: the op matrix checks the intrinsics one, this the portable one.</summary>
    [TestCaseSource(nameof(PortableCases))]
    public void PortablePathMatchesReference(OpCase c) => Check(c, portable: true);

    public static IEnumerable<TestCaseData> WinogradShapedCases() =>
        OpCases.For("conv3d", Seed).Where(c => Conv3dWinogradCpu.Applies((Conv3dOp)c.Op)).SelectMany(c => new[]
        {
            new TestCaseData(c, Conv3dCpuVariants.Variant.Direct).SetName("direct " + c.Name),
            new TestCaseData(c, Conv3dCpuVariants.Variant.Winograd).SetName("winograd " + c.Name),
        });

    /// <summary>Both conv3d variants on every shape either could take, whatever the table picks.</summary>
    [TestCaseSource(nameof(WinogradShapedCases))]
    public void EachConvVariantMatchesReference(OpCase c, Conv3dCpuVariants.Variant variant)
    {
        Conv3dCpuVariants.Force = variant;
        try { Check(c, portable: false); }
        finally { Conv3dCpuVariants.Force = null; }
    }

    /// <summary>The op matrix's check (Reference, guard bands) with the CPU kernels forced down one path.</summary>
    private void Check(OpCase c, bool portable)
    {
        CpuContext.ForcePortable = portable;
        try
        {
            CaseResult r = OpValidation.Check(_cpu, "cpu", c, TestSeed.Print(Seed));
            Assert.That(r.Status, Is.EqualTo(CaseStatus.Pass), $"{r.Detail} (seed {Seed})");
        }
        finally { CpuContext.ForcePortable = false; }
    }

    [Test]
    public void ConvWritesInteriorOfHaloOutputOnly()
    {
        var c = OpCases.For("conv3d").First(x => x.Name.StartsWith("conv3d(n=2,c=3,t=5"));
        var rng = new DeterministicRandom(TestSeed.Use(5));
        var x = c.MakeInputs(rng)[0];
        var y = Tensor.ZerosWithHalo(c.Op.OutputShape(c.InputShapes), new[] { 0, 1, 1, 1, 0 });
        var outer = new Tensor(y.Storage, 0, new[] { (int)(y.Storage.Bytes / 4) }, new long[] { 1 });
        _cpu.RunOp(c.Op, new[] { Tensor.FromArray(x, c.InputShapes[0]) }, y);
        double interior = y.ToArray().Sum(v => (double)v * v);
        double total = outer.ToArray().Sum(v => (double)v * v);
        Assert.That(total, Is.EqualTo(interior).Within(1e-6 * Math.Max(1, interior)), "conv wrote into the halo");
        Assert.That(interior, Is.GreaterThan(0));
    }
}
