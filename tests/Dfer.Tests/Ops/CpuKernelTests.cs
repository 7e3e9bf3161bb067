using Dfer.Backends.Cpu;
using Dfer.Backends.Reference;
using Dfer.Devices.Cpu;
using Dfer.Ops;
using Dfer.Ops.Conv3d;
using Dfer.Primitives.Cpu;
using Dfer.Runtime;
using Dfer.Tensors;

namespace Dfer.Tests.Ops;

/// <summary>
/// What the op matrix (OpMatrixTests) does not cover for the CPU backend: every op case on each instruction-set path
/// this CPU has besides the one the matrix's cpu backend takes, each conv3d variant on every shape it could take, and
/// halo-aware outputs.
/// </summary>
[TestFixture]
public class CpuKernelTests
{
    private CpuBackend _cpu = null!, _direct = null!, _winograd = null!;
    private readonly Dictionary<CpuIsa, CpuBackend> _paths = new();
    private readonly Dictionary<(int, CpuConv3dVariant?), CpuBackend> _many = new();

    [OneTimeSetUp]
    public void SetUp()
    {
        _cpu = new CpuBackend(2, new CpuVariants());   // no pins, whatever DFER_CPU_ISA says: the CPU's best path
        // The pins go to the backends' contexts (CpuVariants), so each backend runs one path whatever the tables pick.
        foreach (CpuIsa path in Enum.GetValues<CpuIsa>()) _paths[path] = new CpuBackend(2, Pin(path));
        _direct = new CpuBackend(2, new CpuVariants { Conv3d = CpuConv3dVariant.Direct });
        _winograd = new CpuBackend(2, new CpuVariants { Conv3d = CpuConv3dVariant.Winograd });
        foreach (int threads in ManyThreads)
            foreach (CpuConv3dVariant? pin in new CpuConv3dVariant?[] { null, CpuConv3dVariant.Winograd })
                _many[(threads, pin)] = new CpuBackend(threads, new CpuVariants { Conv3d = pin });
    }

    [OneTimeTearDown]
    public void TearDown()
    {
        _cpu.Dispose();
        foreach (var b in _paths.Values) b.Dispose();
        _direct.Dispose();
        _winograd.Dispose();
        foreach (var b in _many.Values) b.Dispose();
    }

    // Fresh weights and inputs every run; the seed is printed so a failure can be replayed.
    private static readonly ulong Seed = TestSeed.Fresh();

    /// <summary>The pins that make a CPU backend take <paramref name="path"/> (where this CPU has it).</summary>
    private static CpuVariants Pin(CpuIsa path) => path switch
    {
        CpuIsa.Portable => new CpuVariants { Portable = true },
        CpuIsa.Avx2 => new CpuVariants { Avx512 = false },
        _ => new CpuVariants(),
    };

    /// <summary>The ops whose CPU kernels have an intrinsics path and a separate portable one.</summary>
    private static readonly OpKind[] TwoPathKinds = [OpRegistry.Named("conv3d"), OpRegistry.Named("linear"),
        OpRegistry.Named("gelu"), OpRegistry.Named("relposattn"), OpRegistry.Named("lifting"),
        OpRegistry.Named("softmax"), OpRegistry.Named("boxdecode"), OpRegistry.Named("addact"),
        OpRegistry.Named("conv2d"), OpRegistry.Named("sepconv2d")];

    /// <summary>
    /// The paths this CPU has other than the one the op matrix's cpu backend takes (<see cref="CpuVariants.Default"/>:
    /// the best, or DFER_CPU_ISA's), so the matrix and these cases together run every op case on every path here:
    /// portable and avx2 on an AVX-512 machine, portable on an AVX2 one.
    /// </summary>
    private static IEnumerable<CpuIsa> OtherPaths()
    {
        CpuIsa? matrix = CpuVariants.DefaultRefusal is null ? CpuVariants.Default.Isa : null;
        return Enum.GetValues<CpuIsa>().Where(p => CpuPeak.Runs(p) && p != matrix);
    }

    public static IEnumerable<TestCaseData> PathCases() =>
        from path in OtherPaths()
        from c in OpCases.All(Seed)
        select new TestCaseData(path, c).SetName($"{CpuVariants.Name(path)} {c.Name}");

    /// <summary>Every path must be right on every op case: the op matrix checks the one the cpu backend takes, this
    /// the others (the portable twins of the intrinsics kernels, the GEMM's AVX2 tiles next to its 512-bit
    /// ones).</summary>
    [TestCaseSource(nameof(PathCases))]
    public void PathMatchesReference(CpuIsa path, OpCase c)
    {
        Assert.That(_paths[path].Variants.Isa, Is.EqualTo(path), "the pin takes the path");
        Check(_paths[path], c);
    }

    [Test]
    public void OtherPaths_WithTheMatrix_CoverEveryPathThisCpuHas()
    {
        var covered = OtherPaths().ToHashSet();
        if (CpuVariants.DefaultRefusal is null) covered.Add(CpuVariants.Default.Isa);
        Assert.That(covered, Is.EquivalentTo(Enum.GetValues<CpuIsa>().Where(CpuPeak.Runs)));
        Assert.That(covered, Does.Contain(CpuIsa.Portable), "every CPU runs the portable path");
    }

    [Test]
    public void Avx512Pin_ReachesTheContext()
    {
        using var off = new CpuContext(1, new CpuVariants { Avx512 = false });
        using var table = new CpuContext(1, new CpuVariants());
        Assert.That(off.UseAvx512, Is.False);
        Assert.That(off.UseSimd, Is.EqualTo(CpuVariants.SimdSupported));
        Assert.That(table.UseAvx512,
            Is.EqualTo(CpuVariants.SimdSupported && System.Runtime.Intrinsics.X86.Avx512F.IsSupported));
        Assert.That(new CpuVariants { Portable = true }.UseAvx512, Is.False);
    }

    public static IEnumerable<TestCaseData> WinogradShapedCases() =>
        OpCases.For("conv3d", Seed).Where(c => Conv3dWinogradCpu.Applies((Conv3dOp)c.Op)).SelectMany(c => new[]
        {
            new TestCaseData(c, CpuConv3dVariant.Direct).SetName("direct " + c.Name),
            new TestCaseData(c, CpuConv3dVariant.Winograd).SetName("winograd " + c.Name),
        });

    /// <summary>Both conv3d variants on every shape either could take, whatever the table picks.</summary>
    [TestCaseSource(nameof(WinogradShapedCases))]
    public void EachConvVariantMatchesReference(OpCase c, CpuConv3dVariant variant) =>
        Check(variant == CpuConv3dVariant.Winograd ? _winograd : _direct, c);

    /// <summary>The pins reach the kernels: the table's own choice differs from a pin on some of these shapes, and a
    /// pin wins on all.</summary>
    [Test]
    public void ConvVariantPin_OverridesTheTable()
    {
        var shaped = OpCases.For("conv3d").Where(c => Conv3dWinogradCpu.Applies((Conv3dOp)c.Op)).ToList();
        Assert.That(shaped, Is.Not.Empty);
        using var direct = new CpuContext(1, new CpuVariants { Conv3d = CpuConv3dVariant.Direct });
        using var winograd = new CpuContext(1, new CpuVariants { Conv3d = CpuConv3dVariant.Winograd });
        using var table = new CpuContext(1, new CpuVariants());
        foreach (var c in shaped)
        {
            var op = (Conv3dOp)c.Op;
            Assert.That(Conv3dCpuVariants.Choose(op, c.InputShapes[0], direct), Is.EqualTo(CpuConv3dVariant.Direct),
                c.Name);
            Assert.That(Conv3dCpuVariants.Choose(op, c.InputShapes[0], winograd), Is.EqualTo(CpuConv3dVariant.Winograd),
                c.Name);
            Assert.That(Conv3dCpuVariants.Choose(op, c.InputShapes[0], table),
                Is.EqualTo(Conv3dCpuVariants.Choose(op, c.InputShapes[0])), c.Name);
        }
        // The table itself: Winograd from 100 pixels per frame (10×10), direct below (7×7).
        var big = (Conv3dOp)shaped[0].Op;
        Assert.That(Conv3dCpuVariants.Choose(big, [1, 3, 10, 10, big.Cin]), Is.EqualTo(CpuConv3dVariant.Winograd));
        Assert.That(Conv3dCpuVariants.Choose(big, [1, 3, 7, 7, big.Cin]), Is.EqualTo(CpuConv3dVariant.Direct));
        Assert.That(table.UseSimd, Is.EqualTo(CpuVariants.SimdSupported));
        Assert.That(new CpuVariants { Portable = true }.UseSimd, Is.False);
    }

    /// <summary>
    /// The pins reach the kernels, not only the table: direct and Winograd round differently, and so do some of the
    /// AVX2+FMA paths and their portable twins, so a pin that was ignored would give the same bits as the run without
    /// it.
    /// </summary>
    [Test]
    public void PinnedBackends_RunOtherKernels_TheirBitsDiffer()
    {
        static float[] Run(CpuBackend backend, OpCase c)
        {
            var inputs = c.MakeInputs(new DeterministicRandom(11))
                .Select((a, i) => Tensor.FromArray(a, c.InputShapes[i])).ToArray();
            var y = Tensor.Zeros(c.Op.OutputShape(c.InputShapes));
            backend.RunOp(c.Op, inputs, y);
            return y.ToArray();
        }
        var conv = OpCases.For("conv3d").First(x => Conv3dWinogradCpu.Applies((Conv3dOp)x.Op));
        float[] direct = Run(_direct, conv);
        Assert.That(direct.Any(v => v != 0), Is.True, conv.Name);
        Assert.That(Run(_winograd, conv).SequenceEqual(direct), Is.False,
            $"{conv.Name}: the Winograd pin ran the direct kernel");
        Assert.That(Run(_direct, conv).SequenceEqual(direct), Is.True, "direct is deterministic");
        if (!CpuVariants.SimdSupported) return;   // no AVX2+FMA: both backends run the portable paths
        var differ = TwoPathKinds.SelectMany(k => OpCases.For(k))
            .Where(c => !Run(_paths[CpuIsa.Portable], c).SequenceEqual(Run(_cpu, c))).Select(c => c.Name).ToList();
        Assert.That(differ, Is.Not.Empty, "no op gave other bits with the portable pin: it did not reach the kernels");
        TestContext.Out.WriteLine($"portable paths with other bits: {string.Join(", ", differ)}");
    }

    /// <summary>The op matrix's check (Reference, guard bands) on a backend whose pins force the CPU kernels down one
    /// path.</summary>
    private static void Check(CpuBackend backend, OpCase c)
    {
        CaseResult r = OpValidation.Check(backend, "cpu", c, TestSeed.Print(Seed));
        Assert.That(r.Status, Is.EqualTo(CaseStatus.Pass), $"{r.Detail} (seed {Seed})");
    }

    /// <summary>More threads than this machine has cores: 7 (no power of two) and 32, where the kernels cut smaller
    /// items (ImplicitGemm.Partition.For, Conv3dWinogradCpu's channel parts, PermuteCpu.Split).</summary>
    private static readonly int[] ManyThreads = [7, 32];

    public static IEnumerable<TestCaseData> ManyThreadCases() =>
        from threads in ManyThreads
        from kind in new[] { "conv3d", "conv2d", "linear", "permute" }
        from c in OpCases.For(kind, Seed)
        from pin in kind == "conv3d" && Conv3dWinogradCpu.Applies((Conv3dOp)c.Op)
            ? new CpuConv3dVariant?[] { null, CpuConv3dVariant.Winograd } : new CpuConv3dVariant?[] { null }
        select new TestCaseData(threads, pin, c).SetName($"{threads} threads {pin?.ToString() ?? ""} {c.Name}");

    /// <summary>The kernels whose work items depend on the thread count, on 7 and 32 threads, against the float64
    /// Reference (the op matrix's check).</summary>
    [TestCaseSource(nameof(ManyThreadCases))]
    public void ManyThreads_MatchReference(int threads, CpuConv3dVariant? pin, OpCase c) =>
        Check(_many[(threads, pin)], c);

    /// <summary>The cases above do reach the smaller cuts: on 32 threads some conv3d cases are cut into more items than
    /// on 2, the Winograd ones among them.</summary>
    [Test]
    public void ManyThreads_CutSmallerItems()
    {
        var convs = OpCases.For("conv3d").Select(c => (op: (Conv3dOp)c.Op, x: c.InputShapes[0])).ToList();
        int Direct((Conv3dOp op, int[] x) c, int threads) =>
            ImplicitGemm.WorkItems(Conv3dCpu.Geometry(c.op), c.x, c.op.ConvOutputShape(c.x), threads).Length;
        Assert.That(convs.Count(c => Direct(c, 32) > Direct(c, 2)), Is.GreaterThan(2));
        var winograd = convs.Where(c => Conv3dWinogradCpu.Applies(c.op)).ToList();
        Assert.That(winograd.Count(c =>
            Conv3dWinogradCpu.WorkItems(c.op, c.x, 32).Length > Conv3dWinogradCpu.WorkItems(c.op, c.x, 2).Length),
            Is.GreaterThan(1));
        // Both ways Winograd cuts: parts of the output channels, and fewer tile rows than on one thread.
        foreach (int threads in ManyThreads)
        {
            Assert.That(winograd.Any(c => Conv3dWinogradCpu.WorkItems(c.op, c.x, threads)
                .Any(i => i.Channel1 - i.Channel0 < c.op.Cout)), $"{threads} threads: channel parts");
            Assert.That(winograd.Any(c => Conv3dWinogradCpu.WorkItems(c.op, c.x, threads).Max(i => i.Rows)
                < Conv3dWinogradCpu.WorkItems(c.op, c.x, 1).Max(i => i.Rows)), $"{threads} threads: fewer rows");
        }
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
