using Dfer.Backends.Ilgpu;
using Dfer.Devices.Ilgpu;
using Dfer.Ops;
using Dfer.Ops.Conv3d;
using Dfer.Ops.RelPosAttention;
using Dfer.Runtime;

namespace Dfer.Tests.Ops;

/// <summary>
/// What the op matrix does not cover for the ILGPU backend: each conv3d variant on every conv case,
/// whatever the variant table picks. Runs on ILGPU's CPU accelerator, which simulates the GPU's
/// execution model (warps, 256-thread groups, shared memory, barriers).
/// </summary>
[TestFixture]
[NonParallelizable]
public class IlgpuKernelTests
{
    private static readonly ulong Seed = TestSeed.Fresh();
    /// <summary>One ilgpu-cpu backend per conv3d variant, each pinned through its device's
    /// <see cref="IlgpuVariants"/>.</summary>
    private readonly Dictionary<IlgpuConv3dVariant, IlgpuBackend> _pinned = new();

    [OneTimeSetUp]
    public void SetUp()
    {
        foreach (var v in Enum.GetValues<IlgpuConv3dVariant>())
            _pinned[v] = new IlgpuBackend(IlgpuTarget.Cpu, new IlgpuVariants { Conv3d = v });
    }

    [OneTimeTearDown]
    public void TearDown()
    {
        foreach (var b in _pinned.Values) b.Dispose();
    }

    public static IEnumerable<TestCaseData> ConvCases() =>
        from c in OpCases.For("conv3d", Seed)
        from v in Enum.GetValues<IlgpuConv3dVariant>()
        select new TestCaseData(c, v).SetName($"ilgpu-cpu {v.ToString().ToLowerInvariant()} {c.Name}");

    [TestCaseSource(nameof(ConvCases))]
    public void EachConvVariantMatchesReference(OpCase c, IlgpuConv3dVariant variant)
    {
        CaseResult r = OpValidation.Check(_pinned[variant], "ilgpu-cpu", c, TestSeed.Print(Seed));
        Assert.That(r.Status, Is.EqualTo(CaseStatus.Pass), $"{r.Detail} (seed {Seed})");
    }

    [Test]
    public void VariantTable_TilesRealConvolutionsOnTheGpu_AndStaysDirectOnTheCpuAccelerator()
    {
        Assert.That(Conv3dIlgpu.Choose(2 * 4 * 56 * 56, 64, IlgpuTarget.Cuda), Is.EqualTo(IlgpuConv3dVariant.Tiled));
        Assert.That(Conv3dIlgpu.Choose(1, 1, IlgpuTarget.Cuda), Is.EqualTo(IlgpuConv3dVariant.Direct));
        Assert.That(Conv3dIlgpu.Choose(2 * 4 * 56 * 56, 64, IlgpuTarget.Cpu), Is.EqualTo(IlgpuConv3dVariant.Direct));
    }

    [Test]
    public void VariantPin_OverridesTheTable_AndReachesTheDevice()
    {
        Assert.That(Conv3dIlgpu.Choose(2 * 4 * 56 * 56, 64, IlgpuTarget.Cpu, IlgpuConv3dVariant.Tiled),
            Is.EqualTo(IlgpuConv3dVariant.Tiled));
        Assert.That(Conv3dIlgpu.Choose(1, 1, IlgpuTarget.Cuda, IlgpuConv3dVariant.Tiled),
            Is.EqualTo(IlgpuConv3dVariant.Tiled));
        Assert.That(Conv3dIlgpu.Choose(2 * 4 * 56 * 56, 64, IlgpuTarget.Cuda, IlgpuConv3dVariant.Direct),
            Is.EqualTo(IlgpuConv3dVariant.Direct));
        using var device = IlgpuDevice.Open(IlgpuTarget.Cpu, new IlgpuVariants { Conv3d = IlgpuConv3dVariant.Tiled });
        Assert.That(device.Variants.Conv3d, Is.EqualTo(IlgpuConv3dVariant.Tiled));
    }

    [Test]
    public void RelPosAttention_RefusesAHeadDimLargerThanItsPerThreadAccumulator()
    {
        using var device = IlgpuDevice.Open(IlgpuTarget.Cpu);
        int d = RelPosAttentionIlgpu.MaxHeadDim + 1;
        var op = new RelPosAttentionOp(1, d, (1, 1, 1), (1, 1, 1), new float[d], new float[d], new float[d]);
        var e = Assert.Throws<NotSupportedException>(() => new RelPosAttentionIlgpu(device, op));
        Assert.That(e!.Message, Does.Contain(RelPosAttentionIlgpu.MaxHeadDim.ToString()));
        var fits = new RelPosAttentionOp(1, d - 1, (1, 1, 1), (1, 1, 1), new float[d - 1], new float[d - 1],
            new float[d - 1]);
        new RelPosAttentionIlgpu(device, fits).Dispose();
    }
}
