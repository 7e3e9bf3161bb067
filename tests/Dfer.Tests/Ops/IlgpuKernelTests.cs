using Dfer.Backends;
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
    private IBackend _ilgpu = null!;

    [OneTimeSetUp] public void SetUp() => _ilgpu = BackendRegistry.Create("ilgpu-cpu");
    [OneTimeTearDown] public void TearDown() => _ilgpu.Dispose();

    public static IEnumerable<TestCaseData> ConvCases() =>
        from c in OpCases.For("conv3d", Seed)
        from v in Enum.GetValues<Conv3dIlgpu.Variant>()
        select new TestCaseData(c, v).SetName($"ilgpu-cpu {v.ToString().ToLowerInvariant()} {c.Name}");

    [TestCaseSource(nameof(ConvCases))]
    public void EachConvVariantMatchesReference(OpCase c, Conv3dIlgpu.Variant variant)
    {
        Conv3dIlgpu.Force = variant;
        try
        {
            CaseResult r = OpValidation.Check((IOpRunner)_ilgpu, "ilgpu-cpu", c, TestSeed.Print(Seed));
            Assert.That(r.Status, Is.EqualTo(CaseStatus.Pass), $"{r.Detail} (seed {Seed})");
        }
        finally { Conv3dIlgpu.Force = null; }
    }

    [Test]
    public void VariantTable_TilesRealConvolutionsOnTheGpu_AndStaysDirectOnTheCpuAccelerator()
    {
        Assert.That(Conv3dIlgpu.Choose(2 * 4 * 56 * 56, 64, IlgpuTarget.Cuda), Is.EqualTo(Conv3dIlgpu.Variant.Tiled));
        Assert.That(Conv3dIlgpu.Choose(1, 1, IlgpuTarget.Cuda), Is.EqualTo(Conv3dIlgpu.Variant.Direct));
        Assert.That(Conv3dIlgpu.Choose(2 * 4 * 56 * 56, 64, IlgpuTarget.Cpu), Is.EqualTo(Conv3dIlgpu.Variant.Direct));
    }

    [Test]
    public void RelPosAttention_RefusesAHeadDimLargerThanItsPerThreadAccumulator()
    {
        using var device = IlgpuDevice.Open(IlgpuTarget.Cpu);
        int d = RelPosAttentionIlgpu.MaxHeadDim + 1;
        var op = new RelPosAttentionOp(1, d, (1, 1, 1), (1, 1, 1), new float[d], new float[d], new float[d]);
        var e = Assert.Throws<NotSupportedException>(() => new RelPosAttentionIlgpu(device, op));
        Assert.That(e!.Message, Does.Contain(RelPosAttentionIlgpu.MaxHeadDim.ToString()));
        var fits = new RelPosAttentionOp(1, d - 1, (1, 1, 1), (1, 1, 1), new float[d - 1], new float[d - 1], new float[d - 1]);
        new RelPosAttentionIlgpu(device, fits).Dispose();
    }
}
