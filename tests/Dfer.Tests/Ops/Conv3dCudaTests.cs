using Dfer.Backends;
using Dfer.Backends.Cuda;
using Dfer.Devices.Cuda;
using Dfer.Ops;
using Dfer.Ops.Conv3d;
using Dfer.Runtime;
using Dfer.Tensors;
using Dfer.Tests.Devices;

namespace Dfer.Tests.Ops;

/// <summary>
/// The host side of the native conv3d: weight packing and the kernel argument checked against
/// conv3d.cu's own text (no GPU needed), and — on a GPU — every variant against the float64
/// Reference on every conv3d op case, with its precision's tolerance.
/// </summary>
[TestFixture]
[NonParallelizable]
public class Conv3dCudaTests
{
    private static string Source => KernelSources.Embedded.Source("conv3d");

    [Test]
    public void PackWeights_PutsEachOutputChannelsTapsThenChannelsInOneRow()
    {
        // W[o, i, a, b, c] = 10000o + 1000i + 100a + 10b + c for Cout 2, Cin 3, kernel 2x1x2
        int co = 2, ci = 3;
        var w = new float[co * ci * 2 * 1 * 2];
        for (int o = 0; o < co; o++)
            for (int i = 0; i < ci; i++) for (int a = 0; a < 2; a++) for (int c = 0; c < 2; c++)
                w[((o * ci + i) * 2 + a) * 2 + c] = 10000 * o + 1000 * i + 100 * a + c;
        var op = new Conv3dOp(ci, co, (2, 1, 2), (1, 1, 1), (0, 0, 0), w, null, false, false);
        float[] p = Conv3dCuda.PackWeights(op);
        // row o: k = ((a*1 + 0)*2 + c)*3 + i
        Assert.That(p[..12],
            Is.EqualTo(new float[] { 0, 1000, 2000, 1, 1001, 2001, 100, 1100, 2100, 101, 1101, 2101 }));
        Assert.That(p[12], Is.EqualTo(10000f));
        Assert.That(p[23], Is.EqualTo(12101f));
    }

    [Test]
    public void KernelArgument_MirrorsTheStructInConv3dCu()
    {
        KernelStructLayout.AssertMirrors<Conv3dCudaParams>(Source, "Conv3dParams",
            t => t switch
            {
                "i64" or "longlong" => 8,
                "int" or "float" => 4,
                _ => throw new AssertionException($"unexpected field type {t}")
            },
            (_, name) => name.ToLowerInvariant() == "wp" ? "wgt" : name.Replace("_", "").ToLowerInvariant());
    }

    [Test]
    public void Variants_AreExactlyTheKernelsOfConv3dCu_EachWithALaunchLine()
    {
        var kernels = KernelSources.KernelNames(Source).ToHashSet();
        // Besides the variants, conv3d.cu holds exactly the split-K finish kernels, one per output type.
        string[] finish = { "conv3d_splitk_finish_f32", "conv3d_splitk_finish_bf16", "conv3d_splitk_finish_f16" };
        Assert.That(Conv3dCuda.Variants.Select(v => v.Kernel).Intersect(finish), Is.Empty,
            "a finish kernel is no variant");
        Assert.That(Conv3dCuda.Variants.Select(v => v.Kernel).Concat(finish).ToHashSet(), Is.EquivalentTo(kernels));
        var table = KernelLaunchTable.Parse(Source);
        foreach (string f in finish)
        {
            Assert.That(table.ContainsKey(f), $"{f} has a launch line");
            Assert.That(table[f].Block % 32, Is.Zero, $"{f}: whole warps");
            Assert.That(table[f].TileM, Is.GreaterThan(0), $"{f}: elements per block");
            Assert.That(table[f].Smem, Is.Zero, $"{f}: no shared memory");
        }
        foreach (Conv3dCudaVariant v in Conv3dCuda.Variants)
        {
            Assert.That(table.ContainsKey(v.Kernel), $"{v.Kernel} has a launch line");
            var l = table[v.Kernel];
            Assert.That(l.Block % 32, Is.Zero, $"{v.Kernel}: whole warps");
            Assert.That(l.TileM, Is.GreaterThan(0));
            Assert.That(l.TileN, Is.GreaterThan(0));
            Assert.That(l.Smem, Is.InRange(0, 227 * 1024), $"{v.Kernel}: fits an sm_90 block's shared memory");
        }
    }

    [Test]
    public void Table_ChoosesByPrecisionAndShape()
    {
        Assert.That(Conv3dCuda.Choose(Precision.Fp32, 64, 64, true).Kernel, Is.EqualTo("conv3d_f32_v1"));
        Assert.That(Conv3dCuda.Choose(Precision.Tf32, 3, 64, true).Kernel, Is.EqualTo("conv3d_tf32_v2"));
        // the stem
        Assert.That(Conv3dCuda.Choose(Precision.Bf16, 3, 64, true).Kernel, Is.EqualTo("conv3d_bf16_v7"));
        Assert.That(Conv3dCuda.Choose(Precision.Bf16, 3, 64, false).Kernel, Is.EqualTo("conv3d_bf16_v6"));
        Assert.That(Conv3dCuda.Choose(Precision.Fp16, 64, 64, true).Kernel, Is.EqualTo("conv3d_f16_v5"));
        Assert.That(Conv3dCuda.Choose(Precision.Bf16, 256, 512, true).Kernel, Is.EqualTo("conv3d_bf16_v4"));
        // 48 % 32 != 0
        Assert.That(Conv3dCuda.Choose(Precision.Bf16, 48, 512, true).Kernel, Is.EqualTo("conv3d_bf16_v7"));
        foreach (Precision p in Enum.GetValues<Precision>())
            foreach (int cin in new[] { 1, 3, 5, 32, 64, 96, 512 })
            {
                var v = Conv3dCuda.Choose(p, cin, 64, true);
                Assert.That(v.Fits(cin), $"{v} for {cin} channels");
                Assert.That(v.Precision, Is.EqualTo(p));
            }
    }

    public static IEnumerable<TestCaseData> VariantCases() =>
        from v in Conv3dCuda.Variants
        from c in OpCases.For("conv3d")
        where v.Fits(((Conv3dOp)c.Op).Cin)
        select new TestCaseData(v.Kernel, c).SetName($"cuda {v.Kernel} {c.Name}");

    private static readonly ulong Seed = TestSeed.Fresh();

    [TestCaseSource(nameof(VariantCases))]
    public void Variant_MatchesReference_WithinItsPrecision(string kernel, OpCase c)
    {
        if (CudaDevice.UnavailableReason() is string reason) Assert.Ignore($"cuda: {reason}");
        Conv3dCudaVariant v = Conv3dCuda.Find(kernel);
        using var backend = new CudaBackend(v.Precision, v);
        Tolerance tol = v.Class == "3xtf32" ? Tolerance.Fp32 : Tolerance.For(v.Precision);
        CaseResult r = OpValidation.Check(backend, $"cuda:{kernel}", c, TestSeed.Print(Seed), tolerance: tol);
        Assert.That(r.Status, Is.EqualTo(CaseStatus.Pass), $"{r.Detail} (seed {Seed})");
    }
}

/// <summary>The split-K rule of conv3d on cuda, by hand on M3DFEL's shapes and on random ones (no GPU
/// needed).</summary>
[TestFixture]
public class Conv3dSplitKTests
{
    private const int H100Sms = 132;

    [Test]
    public void Batch1_Layer4_SplitsSixteenWays_Batch128_DoesNotSplit()
    {
        // features.4 conv2 at batch 1: 4 instances x 1 x 7 x 7 = 196 rows, 512 channels, K = 27 * 512; 128x128 tiles: 8
        // blocks
        Assert.That(Conv3dCuda.SplitK(196, 512, 13824, 128, 128, H100Sms), Is.EqualTo((16, 896)));
        // the same layer at batch 128: 784 blocks fill the GPU
        Assert.That(Conv3dCuda.SplitK(128 * 196, 512, 13824, 128, 128, H100Sms), Is.EqualTo((1, 13824)));
        // a shallow K keeps at least 4 x 64 per split: K = 27 * 64 = 1728 is 27 steps, so 6 splits of 5 steps
        Assert.That(Conv3dCuda.SplitK(196, 64, 1728, 128, 64, H100Sms), Is.EqualTo((6, 320)));
        // asked for: 0 and 1 mean no split; 4 is taken as it is
        Assert.That(Conv3dCuda.SplitK(196, 512, 13824, 128, 128, H100Sms, requested: 0), Is.EqualTo((1, 13824)));
        Assert.That(Conv3dCuda.SplitK(196, 512, 13824, 128, 128, H100Sms, requested: 4), Is.EqualTo((4, 3456)));
        // an empty output (batch 0, or no channels) does not split
        Assert.That(Conv3dCuda.SplitK(0, 512, 13824, 128, 128, H100Sms), Is.EqualTo((1, 13824)));
        Assert.That(Conv3dCuda.SplitK(196, 0, 13824, 128, 128, H100Sms), Is.EqualTo((1, 13824)));
    }

    [Test]
    public void RandomShapes_CoverK_WithWholeStepsAndNoEmptySplit()
    {
        var rng = TestSeed.Random(11);
        for (int i = 0; i < 2000; i++)
        {
            long m = rng.Next(0, 100_000);
            int co = rng.Next(0, 1024), k = rng.Next(0, 30_000), sms = rng.Next(1, 200);
            int? requested = rng.Next(4) == 0 ? rng.Next(0, 40) : null;
            var (splits, chunk) = Conv3dCuda.SplitK(m, co, k, 128, rng.Next(2) == 0 ? 64 : 128, sms, requested);
            string at = $"m {m} co {co} k {k} sms {sms} requested {requested}";
            Assert.That(splits, Is.InRange(1, 16), at);
            if (splits == 1)
            {
                Assert.That(chunk, Is.EqualTo(k), at);
                continue;
            }
            Assert.That(chunk % 64, Is.Zero, at);
            Assert.That((long)splits * chunk, Is.GreaterThanOrEqualTo(k), at);
            Assert.That((long)(splits - 1) * chunk, Is.LessThan(k), $"{at}: the last split would be empty");
            Assert.That(chunk, Is.GreaterThanOrEqualTo(4 * 64), $"{at}: a split keeps at least 4 steps of 64");
        }
    }
}

/// <summary>The cuda backend's 16-bit activation plan (which values stay in bf16/fp16 between kernels), by hand on
/// M3DFEL and a small graph.</summary>
[TestFixture]
public class CudaStore16Tests
{
    [Test]
    public void M3dfel_BackboneActivationsStay16Bit_FromTheStemToTheLastConv()
    {
        var model = Dfer.Models.ModelRegistry.Get("m3dfel");
        Graph g = model.Build(model.GenerateWeights(1));
        bool[] bf16 = CudaBackend.Store16(g, Precision.Bf16);
        Assert.That(CudaBackend.Store16(g, Precision.Fp32), Is.All.False);
        Assert.That(CudaBackend.Store16(g, Precision.Tf32), Is.All.False);
        Assert.That(CudaBackend.Store16(g, Precision.Fp16), Is.EqualTo(bf16));

        Node Named(string name) => g.Nodes.Single(n => n.Name == name);
        var convs = g.Nodes.Where(n => n.Op is Conv3dOp).ToList();
        Assert.That(convs, Has.Count.EqualTo(20));                          // stem, 16 block convs, 3 downsamples
        Assert.That(bf16[Graph.Input], Is.False);
        Assert.That(bf16[Named("instances").Output], Is.False, "the frames reach the stem in fp32 (v7 reads them)");
        Assert.That(bf16[Named("features.0").Output], Is.True, "the stem writes 16-bit");
        // every conv output is 16-bit but the last one, which the average pool (an ILGPU kernel) reads
        var last = Named("features.5").Inputs[0];
        foreach (Node c in convs)
            Assert.That(bf16[c.Output], Is.EqualTo(c.Output != last), c.Name);
        Assert.That(bf16.Count(b => b), Is.EqualTo(19));
    }

    [Test]
    public void Storage16_IsRefusedWhereTheVariantCannotHonourIt_BeforeTouchingTheDevice()
    {
        var op = new Conv3dOp(3, 8, (1, 1, 1), (1, 1, 1), (0, 0, 0), new float[24], null, false, false);
        // an fp32 variant cannot read 16-bit activations; the stem variant (v7) reads fp32 ones only
        Assert.Throws<ArgumentException>(
            () => new Conv3dCuda(null!, op, Precision.Fp32, null, new Conv3dStorage(true, false, false)));
        Assert.Throws<ArgumentException>(
            () => new Conv3dCuda(null!, op, Precision.Bf16, Conv3dCuda.Find("conv3d_bf16_v7"),
            new Conv3dStorage(true, false, false)));
        var wide = new Conv3dOp(48, 8, (1, 1, 1), (1, 1, 1), (0, 0, 0), new float[48 * 8], null, false, false);
        Assert.Throws<DferException>(
            () => new Conv3dCuda(null!, wide, Precision.Bf16, Conv3dCuda.Find("conv3d_bf16_v4")));
    }

    [Test]
    public void AValueReadByAnyOtherOp_OrAGraphOutput_StaysFp32()
    {
        var rng = new DeterministicRandom(TestSeed.Use(3));
        Conv3dOp Conv(bool residual)
            => new(4, 4, (1, 1, 1), (1, 1, 1), (0, 0, 0), rng.Uniform(16, -1, 1), null, false, residual);
        var g = new Graph();
        int a = g.Add("a", Conv(false), Graph.Input);
        int b = g.Add("b", Conv(false), a);                 // read by c (conv) and by the gelu: fp32
        int c = g.Add("c", Conv(true), a, b);               // reads a as input and b as residual
        int d = g.Add("d", new Dfer.Ops.Gelu.GeluOp(), b);
        int e = g.Add("e", Conv(false), c);                 // a graph output: fp32
        g.Outputs["e"] = e;
        g.Outputs["d"] = d;
        bool[] s = CudaBackend.Store16(g, Precision.Bf16);
        Assert.That(s[a], Is.True);
        Assert.That(s[b], Is.False);
        Assert.That(s[c], Is.True);
        Assert.That(s[d], Is.False);
        Assert.That(s[e], Is.False);
    }
}
