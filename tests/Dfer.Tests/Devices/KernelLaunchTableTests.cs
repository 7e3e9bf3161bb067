using Dfer.Devices.Cuda;

namespace Dfer.Tests.Devices;

[TestFixture]
public class KernelLaunchTableTests
{
    private const string Source = """
        // Variants:
        //   v1 k_v1 : the launch contract is below; this line mentions launch but is prose.
        // launch k_v1: block 256, tile_m 128, tile_n 64, smem 0
        //launch   k_v2 :block 128,tile_m 64 ,  tile_n 32, smem 81920
        #include "common.cuh"
        extern "C" __global__ void k_v1(P p) { }
        extern "C" __global__ void DFER_LAUNCH_BOUNDS(kThreads, 2) k_v2(P p) { }
        """;

    [Test]
    public void Parse_ReadsEveryLaunchLine_WithItsLineNumber()
    {
        var table = KernelLaunchTable.Parse(Source, "k.cu");
        Assert.That(table.Keys, Is.EquivalentTo(new[] { "k_v1", "k_v2" }));
        Assert.That(table["k_v1"], Is.EqualTo(new KernelLaunch("k_v1", 256, 128, 64, 0, 3)));
        Assert.That(table["k_v2"], Is.EqualTo(new KernelLaunch("k_v2", 128, 64, 32, 81920, 4)));
    }

    [Test]
    public void Parse_AcceptsCrLfLineEnds() =>
        Assert.That(KernelLaunchTable.Parse(Source.Replace("\n", "\r\n"))["k_v2"].Smem, Is.EqualTo(81920));

    [TestCase("// launch k: block 256 tile_m 128, tile_n 64, smem 0", TestName = "missing comma")]
    [TestCase("// launch k: block 256, tile_m 128, tile_n 64", TestName = "missing smem")]
    [TestCase("// launch k: block 256, tile_n 64, tile_m 128, smem 0", TestName = "fields out of order")]
    [TestCase("// launch k: block -1, tile_m 128, tile_n 64, smem 0", TestName = "negative")]
    [TestCase("// launch k: block 0, tile_m 128, tile_n 64, smem 0", TestName = "zero block")]
    [TestCase("// launch k: block 256, tile_m 0x80, tile_n 64, smem 0", TestName = "hex")]
    [TestCase("// launch k: block 256, tile_m 128, tile_n 64, smem 99999999999", TestName = "overflow")]
    [TestCase("// launch k: block 256, tile_m 128, tile_n 64, smem 0 // tuned", TestName = "trailing text")]
    public void Parse_RejectsAMalformedLine_NamingFileLineAndText(string line)
    {
        var e = Assert.Throws<DferException>(() => KernelLaunchTable.Parse("// header\n" + line + "\n", "k.cu"));
        Assert.That(e!.Message, Does.StartWith("k.cu:2: malformed launch line").And.Contain(line.Trim()));
    }

    [Test]
    public void Parse_RejectsASecondLineForTheSameKernel()
    {
        var e = Assert.Throws<DferException>(() => KernelLaunchTable.Parse(
            "// launch k: block 1, tile_m 1, tile_n 1, smem 0\n// launch k: block 2, tile_m 1, tile_n 1, smem 0\n",
            "k.cu"));
        Assert.That(e!.Message, Does.Contain("k.cu:2").And.Contain("first on line 1"));
    }

    [Test]
    public void KernelNames_FindsExternCGlobals_AndSkipsCommentsAndOtherFunctions()
    {
        const string src = """
            extern "C" __global__ void a(int x) {}
            extern "C" __global__ void __launch_bounds__(256) b(int x) {}
            extern "C" __global__ __launch_bounds__(256, 2) void c(int x) {}
            extern "C" __global__ void DFER_LAUNCH_BOUNDS(kThreads, 2)
                d(int x) {}
            // extern "C" __global__ void commented(int x) {}
            /* extern "C" __global__ void blocked(int x) {} */
            __global__ void not_extern_c(int x) {}
            extern "C" __device__ void device_fn(int x) {}
            """;
        Assert.That(KernelSources.KernelNames(src), Is.EqualTo(new[] { "a", "b", "c", "d" }));
    }

    [Test]
    public void EveryKernel_HasExactlyOneLaunchLine_InALiteralSource()
    {
        Assert.That(KernelSources.KernelNames(Source), Is.EquivalentTo(KernelLaunchTable.Parse(Source).Keys));
    }

    public static IEnumerable<TestCaseData> EmbeddedModules() =>
        KernelSources.Embedded.Modules.Select(m => new TestCaseData(m).SetName($"launch table {m}.cu"));

    [TestCaseSource(nameof(EmbeddedModules))]
    public void EveryKernel_InEveryEmbeddedSource_HasExactlyOneLaunchLine(string module)
    {
        // Parse throws on a malformed or repeated line, so "exactly one" is: every kernel listed, nothing else listed.
        var table = KernelSources.Embedded.LaunchTable(module);
        var kernels = KernelSources.KernelNames(KernelSources.Embedded.Source(module));
        Assert.That(kernels, Is.Not.Empty, $"{module}.cu declares no extern \"C\" __global__ kernel");
        Assert.That(kernels, Is.Unique);
        Assert.Multiple(() =>
        {
            Assert.That(kernels.Except(table.Keys), Is.Empty, $"kernels in {module}.cu without a `// launch` line");
            Assert.That(table.Keys.Except(kernels), Is.Empty, $"`// launch` lines in {module}.cu naming no kernel");
        });
    }
}
