using Dfer.Backends.Cpu;
using Dfer.Ops;
using Dfer.Tensors;

namespace Dfer.Tests.Ops;

/// <summary>
/// dwconv3d and conv2d on the CPU read their input through its strides, so a value the planner gave
/// a halo (for another consumer) is read in place. The op matrix only feeds dense inputs; here the
/// halo holds NaN, so a kernel that read it, or that mistook a strided view for a dense one, fails.
/// </summary>
[TestFixture]
public class StridedInputCpuTests
{
    private CpuBackend _cpu = null!;

    [OneTimeSetUp] public void SetUp() => _cpu = new CpuBackend(2);
    [OneTimeTearDown] public void TearDown() => _cpu.Dispose();

    public static IEnumerable<TestCaseData> Cases() =>
        new[] { OpRegistry.Named("dwconv3d"), OpRegistry.Named("conv2d") }.SelectMany(k => OpCases.For(k))
        .Select(c => new TestCaseData(c).SetName("halo input " + c.Name));

    [TestCaseSource(nameof(Cases))]
    public unsafe void HaloInputGivesTheDenseResult(OpCase c)
    {
        int[] xs = c.InputShapes[0], ys = c.Op.OutputShape(c.InputShapes);
        float[][] all = c.MakeInputs(new DeterministicRandom(TestSeed.Use(11)));
        var x = all[0];
        // Other inputs (conv2d's residual) stay dense.
        var rest = all.Skip(1).Select((v, i) => Tensor.FromArray(v, c.InputShapes[i + 1])).ToArray();
        var halo = xs.Select((_, i) => i == 0 || i == xs.Length - 1 ? 0 : 1 + i % 2).ToArray();
        var strided = Tensor.ZerosWithHalo(xs, halo);
        new Span<float>(strided.Storage.Pointer, (int)(strided.Storage.Bytes / sizeof(float))).Fill(float.NaN);
        strided.CopyFrom(x);
        if (xs[1..^1].Any(d => d > 1))
            Assert.That(strided.IsContiguous, Is.False, "the view must be strided to test anything");

        var dense = Tensor.Zeros(ys);
        var fromHalo = Tensor.Zeros(ys);
        _cpu.RunOp(c.Op, [Tensor.FromArray(x, xs), .. rest], dense);
        _cpu.RunOp(c.Op, [strided, .. rest], fromHalo);
        Assert.That(fromHalo.ToArray(), Is.EqualTo(dense.ToArray()));
    }
}
