using Dfer.Backends.Reference;
using Dfer.Devices.Cuda;
using Dfer.Devices.Ilgpu;
using Dfer.Ops;
using Dfer.Ops.AvgPool3d;
using Dfer.Ops.Permute;
using Dfer.Ops.Softmax;
using Dfer.Runtime;
using Dfer.Tensors;
using Dfer.Tests.Devices;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Tests.Ops;

/// <summary>
/// The native hosts of permute, softmax and avgpool3d (native/kernels/small_ops.cu): their kernel arguments and
/// launch lines checked against small_ops.cu's own text, the permute plan (unit axes dropped, adjacent axes merged)
/// against PermuteReference and the limits (no GPU needed); and, on a GPU, each host on random inputs against the
/// op's float64 Reference, with guard bands around the output.
/// </summary>
[TestFixture]
[NonParallelizable]
public class SmallOpsCudaTests
{
    private static string Source => KernelSources.Embedded.Source("small_ops");

    private static int SizeOf(string type) => type switch
    {
        "i64" => 8,
        "int" => 4,
        _ => throw new AssertionException($"unexpected field type {type}"),
    };

    [Test]
    public void KernelArguments_MirrorTheStructsInSmallOpsCu()
    {
        KernelStructLayout.AssertMirrors<PermuteCudaParams>(Source, "PermuteParams", SizeOf, (_, name) => name);
        KernelStructLayout.AssertMirrors<SoftmaxCudaParams>(Source, "SoftmaxParams", SizeOf, (_, name) => name);
        KernelStructLayout.AssertMirrors<AvgPool3dCudaParams>(Source, "AvgPool3dParams", SizeOf, (_, name) => name);
    }

    [Test]
    public void LaunchLines_MatchTheKernelsCompileTimeShapes()
    {
        Assert.That(KernelSources.KernelNames(Source),
            Is.EquivalentTo(new[] { "permute_f32", "softmax_rows_f32", "avgpool3d_f32" }));
        var table = KernelLaunchTable.Parse(Source);
        Assert.That(Source, Does.Contain("constexpr int kThreads = 256;"));
        foreach (string k in new[] { "permute_f32", "softmax_rows_f32", "avgpool3d_f32" })
        {
            Assert.That(table[k].Block, Is.EqualTo(256), $"{k}: the kernels' kThreads");
            Assert.That(table[k].Smem, Is.Zero, $"{k}: static shared memory only");
        }
        Assert.That(table["softmax_rows_f32"].TileM, Is.EqualTo(256 / 32), "one row per warp");
        Assert.That(table["avgpool3d_f32"].TileN, Is.EqualTo(32), "one channel per lane");
        Assert.That(table["avgpool3d_f32"].TileM, Is.EqualTo(256 / 32), "one position group per warp");
    }

    // ---- the permute plan, on the CPU

    private static (int[] Dims, long[] Strides) DimsOf(PermuteCudaParams p) =>
        ([p.D0, p.D1, p.D2, p.D3, p.D4, p.D5], [p.S0, p.S1, p.S2, p.S3, p.S4, p.S5]);

    /// <summary>permute_f32's index arithmetic, on the host: output index → input offset.</summary>
    private static float[] GatherAsTheKernel(PermuteCudaParams p, float[] x)
    {
        var (d, s) = DimsOf(p);
        var y = new float[p.Total];
        for (long i = 0; i < p.Total; i++)
        {
            uint r = (uint)i;
            long off = 0;
            for (int a = 5; a >= 1; a--)
            {
                if (d[a] == 1) continue;
                uint q = r / (uint)d[a];
                off += (r - q * (uint)d[a]) * s[a];
                r = q;
            }
            off += r * s[0];
            y[i] = x[off];
        }
        return y;
    }

    [Test]
    public void Plan_M3dfelClip_RunsAsThreeAxes()
    {
        // [B,16,3,112,112] viewed [B,4,4,3,112,112], axes (0,1,2,4,5,3): B·16 frames of 12544 pixels by 3 channels
        var op = new PermuteOp([-1, 4, 4, 3, 112, 112], [0, 1, 2, 4, 5, 3], [-1, 4, 112, 112, 3]);
        var (dims, strides) = DimsOf(PermuteCuda.Plan(op, [2, 16, 3, 112, 112]));
        Assert.That(dims, Is.EqualTo(new[] { 1, 1, 1, 32, 12544, 3 }));
        Assert.That(strides, Is.EqualTo(new long[] { 0, 0, 0, 3 * 12544, 1, 12544 }));
        Assert.That(PermuteCuda.Plan(op, [2, 16, 3, 112, 112]).Total, Is.EqualTo(2L * 16 * 3 * 112 * 112));
    }

    [Test]
    public void Plan_DropsUnitAxes_AndMergesAxesThatStayAdjacent()
    {
        var (dims, strides) = DimsOf(PermuteCuda.Plan(new PermuteOp([3, 5, 7], [2, 0, 1], [7, 3, 5]), [3, 5, 7]));
        Assert.That(dims, Is.EqualTo(new[] { 1, 1, 1, 1, 7, 15 }));         // view axes 0 and 1 stay in order: one axis
        Assert.That(strides, Is.EqualTo(new long[] { 0, 0, 0, 0, 1, 7 }));
        (dims, strides) = DimsOf(PermuteCuda.Plan(new PermuteOp([3, 1, 5, 1, 7], [2, 1, 0, 3, 4], [5, 3, 7]), [105]));
        Assert.That(dims, Is.EqualTo(new[] { 1, 1, 1, 5, 3, 7 }));          // unit axes dropped, nothing adjacent
        Assert.That(strides, Is.EqualTo(new long[] { 0, 0, 0, 7, 35, 1 }));
        (dims, strides) = DimsOf(PermuteCuda.Plan(new PermuteOp([3, 1, 5, 1, 7], [4, 1, 0, 3, 2], [7, 3, 5]), [105]));
        // view axes 0 and 2 meet once the unit axes are gone
        Assert.That(dims, Is.EqualTo(new[] { 1, 1, 1, 1, 7, 15 }));
        Assert.That(strides, Is.EqualTo(new long[] { 0, 0, 0, 0, 1, 7 }));
        (dims, strides) = DimsOf(PermuteCuda.Plan(new PermuteOp([7, 11, 13], [0, 1, 2], [1001]), [7, 11, 13]));
        Assert.That(dims, Is.EqualTo(new[] { 1, 1, 1, 1, 1, 1001 }));       // an identity is one contiguous copy
        Assert.That(strides[5], Is.EqualTo(1));
    }

    [Test]
    public void Plan_GathersWhatPermuteReferenceGathers()
    {
        var rng = new DeterministicRandom(TestSeed.Use(5));
        var cases = OpCases.For("permute").Where(c => Tensor.ElementCountOf(c.InputShapes[0]) < 100_000)
            .Select(c => ((PermuteOp)c.Op, c.InputShapes[0])).ToList();
        // random ranks 1..6, extents 1..4, random axis orders
        for (int t = 0; t < 60; t++)
        {
            int rank = 1 + (int)(rng.NextULong() % 6);
            int[] view = Enumerable.Range(0, rank).Select(_ => 1 + (int)(rng.NextULong() % 4)).ToArray();
            int[] axes = Enumerable.Range(0, rank).OrderBy(_ => rng.NextULong()).ToArray();
            cases.Add((new PermuteOp(view, axes, [-1]), view));
        }
        foreach (var (op, shape) in cases)
        {
            float[] x = rng.Uniform(Tensor.ElementCountOf(shape), -1, 1);
            double[] expected = PermuteReference.Run(op, x.Select(v => (double)v).ToArray(), shape);
            float[] got = GatherAsTheKernel(PermuteCuda.Plan(op, shape), x);
            Assert.That(got.Select(v => (double)v), Is.EqualTo(expected),
                $"view [{string.Join(",", op.ViewShape)}] axes [{string.Join(",", op.Axes)}]");
        }
    }

    // ---- limits: refused with one line, before touching the device

    [Test]
    public void Limits_AreRefusedWithOneLine()
    {
        var rank7 = new PermuteOp([2, 2, 2, 2, 2, 2, 2], [6, 5, 4, 3, 2, 1, 0], [-1]);
        var e = Assert.Throws<DferException>(() => new PermuteCuda(null!, rank7));
        Assert.That(e!.Message, Does.Contain("7 axes").And.Not.Contain("\n"));
        var big = new PermuteOp([-1, 2], [1, 0], [-1]);
        Assert.That(PermuteCuda.Unsupported(big, [65536, 32768]), Does.Contain("2147483648 elements"));
        Assert.That(PermuteCuda.Unsupported(big, [2, 16, 3, 112, 112]), Is.Null);
        Assert.That(SoftmaxCuda.Unsupported([3, 0]), Is.Not.Null.And.Not.Contain("\n"));
        Assert.That(SoftmaxCuda.Unsupported([3, 7]), Is.Null);
        Assert.That(AvgPool3dCuda.Unsupported([1, 2048, 2048, 1024, 1]),
            Does.Contain("positions").And.Not.Contain("\n"));
        Assert.That(AvgPool3dCuda.Unsupported([3, 2, 5, 7, 33]), Is.Null);
        foreach (var c in OpCases.For("permute"))
            Assert.That(PermuteCuda.Unsupported((PermuteOp)c.Op, c.InputShapes[0]), Is.Null, c.Name);
        foreach (var c in OpCases.For("avgpool3d"))
            Assert.That(AvgPool3dCuda.Unsupported(c.InputShapes[0]), Is.Null, c.Name);
    }

    // ---- GPU only: each host vs the float64 Reference

    public static IEnumerable<TestCaseData> GpuCases()
    {
        var cases = OpCases.For("permute").Concat(OpCases.For("softmax")).Concat(OpCases.For("avgpool3d")).ToList();
        // M3DFEL's clip scaled down; softmax rows of 1 and 1000; an odd channels-last pool
        cases.Add(new OpCase("permute(clip b=2,f=16,c=3,h=9,w=7 -> instances)",
            new PermuteOp([-1, 4, 4, 3, 9, 7], [0, 1, 2, 4, 5, 3], [-1, 4, 9, 7, 3]), [[2, 16, 3, 9, 7]]));
        cases.Add(new OpCase("permute(2x3x4x5x3x2 reversed)",
            new PermuteOp([2, 3, 4, 5, 3, 2], [5, 4, 3, 2, 1, 0], [-1]), [[2, 3, 4, 5, 3, 2]]));
        cases.Add(new OpCase("softmax(13x1)", new SoftmaxOp(), [[13, 1]]));
        cases.Add(new OpCase("softmax(5x1000)", new SoftmaxOp(), [[5, 1000]]));
        cases.Add(new OpCase("softmax(3x7, logits in [-30, 30])", new SoftmaxOp(), [[3, 7]], [(-30f, 30f)]));
        cases.Add(new OpCase("avgpool3d(n=3,t=2,h=5,w=7,c=33)", new AvgPool3dOp(), [[3, 2, 5, 7, 33]]));
        return cases.Select(c => new TestCaseData(c).SetName($"cuda small_ops {c.Name}"));
    }

    private static ICudaStep Host(CudaDevice cuda, Op op) => op switch
    {
        PermuteOp p => new PermuteCuda(cuda, p),
        SoftmaxOp s => new SoftmaxCuda(cuda, s),
        AvgPool3dOp a => new AvgPool3dCuda(cuda, a),
        _ => throw new ArgumentException(op.Kind.ToString()),
    };

    private const int Guard = 64;
    private static readonly int SentinelBits = 0x7FA5A5A5;   // a NaN with a recognisable payload
    private static readonly ulong Seed = TestSeed.Fresh();

    [TestCaseSource(nameof(GpuCases))]
    public void Host_MatchesReference_OnTheGpu(OpCase c)
    {
        if (CudaDevice.UnavailableReason() is string reason) Assert.Ignore($"cuda: {reason}");
        using var ilgpu = IlgpuDevice.Open(IlgpuTarget.Cuda);
        using var cuda = CudaDevice.Open(ilgpu);
        using ICudaStep step = Host(cuda, c.Op);
        Assert.That(step.WorkspaceBytes(c.InputShapes, c.Op.OutputShape(c.InputShapes)), Is.Zero);

        float[] x = c.MakeInputs(new DeterministicRandom(TestSeed.Print(Seed)))[0];
        int[] shape = c.InputShapes[0], outShape = c.Op.OutputShape(c.InputShapes);
        double[] expected = ReferenceBackend.RunOp(c.Op, [x.Select(v => (double)v).ToArray()], [shape]);
        int n = expected.Length;
        using var bx = ilgpu.Upload(x);
        using var by = ilgpu.Upload(
            Enumerable.Repeat(BitConverter.Int32BitsToSingle(SentinelBits), n + 2 * Guard).ToArray());

        // twice: through Launch (what the executor calls), then through IIlgpuKernel.Run (what op validation calls)
        step.Launch([CudaDevice.Ptr(bx.View)], [shape], by.NativePtr + Guard * sizeof(float), outShape, IntPtr.Zero);
        cuda.Synchronize();
        Check(by.GetAsArray1D(), "Launch");
        var yView = (ArrayView<float>)by.View.SubView(Guard, n);
        ((IIlgpuKernel)step).Run(ilgpu, [(ArrayView<float>)bx.View], [shape], yView, outShape);
        cuda.Synchronize();
        Check(by.GetAsArray1D(), "Run");

        void Check(float[] guarded, string path)
        {
            for (int i = 0; i < Guard; i++)
            {
                Assert.That(BitConverter.SingleToInt32Bits(guarded[i]), Is.EqualTo(SentinelBits),
                    $"{path}: wrote before the output ({i - Guard})");
                Assert.That(BitConverter.SingleToInt32Bits(guarded[Guard + n + i]), Is.EqualTo(SentinelBits),
                    $"{path}: wrote past the output ({n + i})");
            }
            float[] got = guarded[Guard..(Guard + n)];
            Assert.That(got.Count(v => BitConverter.SingleToInt32Bits(v) == SentinelBits), Is.Zero,
                $"{path}: elements never written");
            Tolerance tol = c.Op is PermuteOp ? new Tolerance(0, 0, 0) : Tolerance.Fp32;
            Comparison r = Numerics.Compare(got, expected, tol.Nmse, tol.Atol, tol.Rtol);
            Assert.That(r.Passed, $"{path}: {r} (seed {Seed})");
        }
    }
}
