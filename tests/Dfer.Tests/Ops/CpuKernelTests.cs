using Dfer.Backends.Cpu;
using Dfer.Backends.Reference;
using Dfer.Devices.Cpu;
using Dfer.Ops;
using Dfer.Ops.Conv3d;
using Dfer.Tensors;

namespace Dfer.Tests.Ops;

/// <summary>Every CPU kernel against the float64 Reference, on every op case, with guard bands around the output.</summary>
[TestFixture]
public class CpuKernelTests
{
    private const float Sentinel = 1234.5f;
    private const int Guard = 64;
    private CpuBackend _cpu = null!;

    [OneTimeSetUp] public void SetUp() => _cpu = new CpuBackend(2);
    [OneTimeTearDown] public void TearDown() => _cpu.Dispose();

    // Fresh weights and inputs every run; the seed is printed so a failure can be replayed.
    private static readonly ulong Seed = (ulong)Environment.TickCount64;

    public static IEnumerable<TestCaseData> Cases() => OpCases.All(Seed).Select(c => new TestCaseData(c).SetName(c.Name));

    public static IEnumerable<TestCaseData> ConvCases() =>
        OpCases.For(OpKind.Conv3d, Seed).Select(c => new TestCaseData(c).SetName("portable " + c.Name));

    [TestCaseSource(nameof(Cases))]
    public void MatchesReference(OpCase c) => Check(c, portable: false);

    /// <summary>conv3d's tile has an intrinsics path and a portable one; both must be right.</summary>
    [TestCaseSource(nameof(ConvCases))]
    public void PortablePathMatchesReference(OpCase c) => Check(c, portable: true);

    public static IEnumerable<TestCaseData> WinogradShapedCases() =>
        OpCases.For(OpKind.Conv3d, Seed).Where(c => Conv3dWinogradCpu.Applies((Conv3dOp)c.Op)).SelectMany(c => new[]
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

    private unsafe void Check(OpCase c, bool portable)
    {
        var rng = new DeterministicRandom(Seed);
        var inputs = c.MakeInputs(rng);
        var expected = ReferenceBackend.RunOp(c.Op, inputs.Select(a => a.Select(v => (double)v).ToArray()).ToArray(), c.InputShapes);
        var outShape = c.Op.OutputShape(c.InputShapes);
        long n = Tensor.ElementCountOf(outShape);
        using var buffer = new NativeBuffer((n + 2 * Guard) * sizeof(float));
        new Span<float>(buffer.Pointer, (int)(n + 2 * Guard)).Fill(Sentinel);
        var output = new Tensor(buffer, Guard, outShape, Tensor.ContiguousStrides(outShape));
        var ins = inputs.Select((a, i) => Tensor.FromArray(a, c.InputShapes[i])).ToArray();
        CpuContext.ForcePortable = portable;
        try { _cpu.RunOp(c.Op, ins, output); }
        finally { CpuContext.ForcePortable = false; }

        var all = new Span<float>(buffer.Pointer, (int)(n + 2 * Guard));
        for (int i = 0; i < Guard; i++)
        {
            Assert.That(all[i], Is.EqualTo(Sentinel), $"write before the output at -{Guard - i}");
            Assert.That(all[(int)(Guard + n) + i], Is.EqualTo(Sentinel), $"write after the output at +{i}");
        }
        var cmp = Numerics.Compare(output.ToArray(), expected);
        Assert.That(cmp.Passed, Is.True, $"{cmp} (seed {Seed})");
    }

    [Test]
    public void ConvWritesInteriorOfHaloOutputOnly()
    {
        var c = OpCases.For(OpKind.Conv3d).First(x => x.Name.StartsWith("conv3d(n=2,c=3,t=5"));
        var rng = new DeterministicRandom(5);
        var x = c.MakeInputs(rng)[0];
        var y = Tensor.ZerosWithHalo(c.Op.OutputShape(c.InputShapes), new[] { 0, 1, 1, 1, 0 });
        var outer = new Tensor(y.Storage, 0, new[] { (int)(y.Storage.Bytes / 4) }, new long[] { 1 });
        _cpu.RunOp(c.Op, new[] { Tensor.FromArray(x, c.InputShapes[0]) }, y);
        double interior = y.ToArray().Sum(v => (double)v * v);
        double total = outer.ToArray().Sum(v => (double)v * v);
        Assert.That(total, Is.EqualTo(interior).Within(1e-6 * Math.Max(1, interior)), "conv wrote into the halo");
        Assert.That(interior, Is.GreaterThan(0));
    }

    [Test]
    public void EveryOpKindHasCases()
    {
        foreach (var kind in Enum.GetValues<OpKind>())
            Assert.That(OpCases.For(kind), Is.Not.Empty, kind.OpName());
    }
}
