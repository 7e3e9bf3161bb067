using System.Numerics;
using Dfer.Backends.Cpu;
using Dfer.Devices.Cpu;
using Dfer.Ops;
using Dfer.Ops.Add;
using Dfer.Ops.Conv2d;
using Dfer.Ops.Conv3d;
using Dfer.Ops.Linear;

namespace Dfer.Tests.Ops;

/// <summary>
/// The FLOPs the CPU kernels execute (<see cref="IExecutedFlops"/>), which <c>dfer profile</c>'s GFLOP/s and %roof
/// count, worked out by hand on small shapes: tiles of 6 output positions in (n, t, h, w) order, the last one padded;
/// output channels in panels of 16; per tile only the temporal taps some row of it reads a frame with; Winograd's
/// 16 products plus its transforms. Each count goes through the kernel the CPU backend resolves, so it follows the
/// variant the kernel would run.
/// </summary>
[TestFixture]
public class ExecutedFlopsTests
{
    private CpuContext _best = null!, _winograd = null!, _portable = null!, _avx2 = null!;

    [OneTimeSetUp]
    public void SetUp()
    {
        _best = new CpuContext(1, new CpuVariants());
        _winograd = new CpuContext(1, new CpuVariants { Conv3d = CpuConv3dVariant.Winograd });
        _portable = new CpuContext(1, new CpuVariants { Portable = true });
        _avx2 = new CpuContext(1, new CpuVariants { Avx512 = false });
    }

    [OneTimeTearDown]
    public void TearDown()
    {
        _best.Dispose(); _winograd.Dispose(); _portable.Dispose(); _avx2.Dispose();
    }

    private static long Executed(Op op, CpuContext ctx, params int[][] shapes)
    {
        var kernel = CpuBackend.Resolve(op);
        try { return CpuBackend.ExecutedFlops(kernel, op, ctx, shapes); }
        finally { (kernel as IDisposable)?.Dispose(); }
    }

    private static Conv3dOp Conv3d(int cin, int cout, (int, int, int) k, (int, int, int) pad, bool residual = false) =>
        new(cin, cout, k, (1, 1, 1), pad, new float[(long)cout * cin * k.Item1 * k.Item2 * k.Item3], null, false,
            residual);

    [Test]
    public void Conv3d_OneFrame_RunsOnlyTheMiddleTemporalTap_OnWholeTilesAndPanels()
    {
        // x [1,1,4,2,5], 3x3x3, pad 1, Cout 20 → y [1,1,4,2,20]: 8 positions. The only frame is read by tap kt = 1;
        // kt = 0 and 2 meet the zero halo for every row. 8 positions → 2 tiles = 12 rows; 20 channels → 2 panels = 32
        // columns. Executed: 2 · 12 rows · 1 tap · 3·3 · 5 · 32 = 34,560 = nominal/3 · (12/8) · (32/20).
        var op = Conv3d(5, 20, (3, 3, 3), (1, 1, 1));
        int[] x = [1, 1, 4, 2, 5];
        long nominal = op.Flops([x]);
        Assert.That(nominal, Is.EqualTo(2L * 8 * 20 * 5 * 27));                               // 43,200
        Assert.That(Executed(op, _best, x), Is.EqualTo(34_560), "4·2 pixels: the table picks the direct GEMM");
        Assert.That(Executed(op, _best, x), Is.EqualTo(nominal / 3 * 12 / 8 * 32 / 20));
    }

    [Test]
    public void Conv3d_TileWithinAFrame_SkipsTheTapsItsRowsDoNotRead_ATileAcrossFramesRunsThemAll()
    {
        // x [1,3,1,6,1], k (3,1,1), pad (1,0,0), Cout 16: 18 positions, 6 per frame, so tile i is frame i.
        // Frame 0 reads taps 1,2 (tap 0 meets the halo), frame 1 all 3, frame 2 taps 0,1: 7 taps of 3·3.
        // Executed: 2 · 6 rows · 7 taps · 1 · 16 = 1,344 = nominal · 7/9.
        var op = Conv3d(1, 16, (3, 1, 1), (1, 0, 0));
        int[] x = [1, 3, 1, 6, 1];
        Assert.That(op.Flops([x]), Is.EqualTo(2L * 18 * 16 * 3));                           // 1,728
        Assert.That(Executed(op, _best, x), Is.EqualTo(1_344));

        // x [1,2,1,2,1]: 4 positions in one tile (frames 0,0,1,1, then two padding rows repeating the last). Frame 0
        // reads taps 1,2, frame 1 taps 0,1: the tile runs all 3. 2 · 6 rows · 3 taps · 16 = 576 against 384 nominal.
        int[] mixed = [1, 2, 1, 2, 1];
        Assert.That(op.Flops([mixed]), Is.EqualTo(2L * 4 * 16 * 3));                         // 384
        Assert.That(Executed(op, _best, mixed), Is.EqualTo(576));
    }

    [Test]
    public void Conv3d_WithoutPaddingOrSkippedTaps_ExecutesTheNominalCount()
    {
        // 1x1x1 over [1,1,2,3,7] → 6 positions (one full tile), 32 channels (two full panels): nothing is padded.
        var op = Conv3d(7, 32, (1, 1, 1), (0, 0, 0));
        int[] x = [1, 1, 2, 3, 7];
        Assert.That(Executed(op, _best, x), Is.EqualTo(op.Flops([x])).And.EqualTo(2L * 6 * 7 * 32));

        // A kernel that does not say (add) executes its op's definition.
        var add = new AddOp();
        int[] a = [2, 3, 5];
        Assert.That(CpuBackend.Resolve(add), Is.Not.InstanceOf<IExecutedFlops>());
        Assert.That(Executed(add, _best, a, a), Is.EqualTo(add.Flops([a, a])).And.EqualTo(30));
    }

    [Test]
    public void Conv3d_Winograd_CountsItsProductsAndBothTransforms()
    {
        // x [1,2,3,5,2], 3x3x3 pad 1, Cout 16, residual. Winograd (pinned: 3·5 pixels are below the table's 100).
        // Patches: Th = 2, Tw = 3, per frame 6, over 2 frames 12. A work item holds min(2, (48 + 6 − 1)/6) = 2 tile
        // rows: all of them, one item.
        // - Input transform: 32 adds per patch and input channel: 32 · 12 · 2 = 768.
        // - 16 products, each a (3,1,1) conv over [1,2,2,3,2] with a zero frame either side: 12 positions, 6 per
        //   frame; tile 0 (frame 0) taps 1,2, tile 1 (frame 1) taps 0,1: 4 taps. 2 · 6 · 4 · 2 · 16 = 1,536 each,
        //   24,576 in all.
        // - Output transform: 16 adds per patch and channel (16 · 12 · 16 = 3,072), then per output 2 adds, the bias
        //   and the residual (2 · 15 outputs · 4 · 16 = 1,920): 4,992.
        // Total 768 + 24,576 + 4,992 = 30,336, against 2 · 30 · 16 · 2 · 27 = 51,840 nominal.
        var op = Conv3d(2, 16, (3, 3, 3), (1, 1, 1), residual: true);
        int[] x = [1, 2, 3, 5, 2], y = [1, 2, 3, 5, 16];
        Assert.That(op.Flops([x, y]), Is.EqualTo(51_840));
        Assert.That(Executed(op, _winograd, x, y), Is.EqualTo(30_336));

        // The same op as the table runs it there, direct: 30 positions, 15 per frame → 5 tiles: frame 0 (2 taps),
        // frame 0 (2), frames 0 and 1 (3), frame 1 (2), frame 1 (2) = 11 taps. 2 · 6 · 11 · 3·3 · 2 · 16 = 38,016.
        Assert.That(Executed(op, _best, x, y), Is.EqualTo(38_016));
    }

    [Test]
    public void Conv3d_Winograd_CountsTheTilesOfEachWorkItem()
    {
        // x [1,1,24,10,1], Cout 16: 240 pixels, so the table takes Winograd. Th = 12, Tw = 5; a work item holds
        // min(12, (48 + 5 − 1)/5) = 10 tile rows: items of 10 and 2 rows. One frame: each product runs only tap 1.
        // - Products: item 1 has 50 positions (9 tiles), item 2 10 (2 tiles), 11 tiles (not the 10 of 60 positions
        //   in one item): 16 · 2 · 6 · 11 · 1 · 16 = 33,792.
        // - Input transform 32 · 60 patches · 1 = 1,920; output 16 · 60 · 16 + 240 outputs · 3 · 16 = 26,880.
        // Total 62,592, against 2 · 240 · 16 · 27 = 207,360 nominal.
        var op = Conv3d(1, 16, (3, 3, 3), (1, 1, 1));
        int[] x = [1, 1, 24, 10, 1];
        Assert.That(op.Flops([x]), Is.EqualTo(207_360));
        Assert.That(Executed(op, _best, x), Is.EqualTo(62_592));
    }

    [Test]
    public void Conv2d_FollowsThePathItRuns()
    {
        // x [1,4,4,3], 3x3, pad 1, Cout 5: 16 positions → 3 tiles = 18 rows, every tap (one frame, nothing skipped).
        var op = new Conv2dOp(3, 5, (3, 3), (1, 1), (1, 1), (1, 1), new float[5 * 3 * 9], null);
        int[] x = [1, 4, 4, 3];
        Assert.That(op.Flops([x]), Is.EqualTo(2L * 16 * 5 * 27));                            // 4,320
        // The implicit GEMM (AVX2): one panel of 16 channels. 2 · 18 · 9 · 3 · 16 = 15,552.
        if (CpuVariants.SimdSupported) Assert.That(Executed(op, _avx2, x), Is.EqualTo(15_552));
        // The portable direct kernel: one panel of 2 Vector<float>s.
        Assert.That(Executed(op, _portable, x), Is.EqualTo(2L * 18 * 9 * 3 * 2 * Vector<float>.Count));
    }

    [Test]
    public void Linear_TiledRowsAndDotProducts()
    {
        // In 10, Out 20. Nominal: 2 · rows · 10 · 20.
        var op = new LinearOp(10, 20, new float[200], null);
        int[] many = [30, 10], few = [2, 10];
        Assert.That(op.Flops([many]), Is.EqualTo(12_000));
        // 30 rows on the implicit GEMM: 5 full tiles, 2 panels = 32 columns. 2 · 30 · 10 · 32 = 19,200.
        if (CpuVariants.SimdSupported) Assert.That(Executed(op, _avx2, many), Is.EqualTo(19_200));
        // 2 rows take the same path on a SIMD machine (the path never depends on the rows): one tile of 6 rows, the
        // 4 beyond 2 padding. 2 · 6 · 10 · 32 = 3,840.
        if (CpuVariants.SimdSupported) Assert.That(Executed(op, _avx2, few), Is.EqualTo(3_840));
        if (CpuVariants.Avx512Supported) Assert.That(Executed(op, _best, few), Is.EqualTo(3_840));
        // Portable: dot products in blocks of 4 rows, 2 of them repeats. 2 · 4 · 10 · 20 = 1,600.
        Assert.That(Executed(op, _portable, few), Is.EqualTo(1_600));
        // Portable, 30 rows also take the dot products: 32 rows. 2 · 32 · 10 · 20 = 12,800.
        Assert.That(Executed(op, _portable, many), Is.EqualTo(12_800));
    }
}
