using System.Text;
using Dfer.Devices.Cuda;

namespace Dfer.Tests.Devices;

/// <summary>The real NVRTC (any version 11.2+); Ignored with the reason where it is not installed. Needs no
/// GPU.</summary>
[TestFixture]
public class NvrtcTests
{
    private static void RequireNvrtc()
    {
        if (Nvrtc.UnavailableReason() is string reason) Assert.Ignore(reason);
    }

    private static readonly KernelHeader Header = new("common.cuh",
        "#pragma once\nnamespace t { __device__ inline float twice(float v) { return 2.0f * v; } }\n");

    private const string Tiny = """
        #include "common.cuh"
        extern "C" __global__ void tiny(float* y, float v, long long n)
        {
            long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
            if (i < n) y[i] = t::twice(v);
        }
        """;

    [Test]
    public void Probe_ReportsVersionAndLibrary()
    {
        RequireNvrtc();
        Assert.That(Nvrtc.Version.Major, Is.GreaterThanOrEqualTo(11));
        Assert.That(Nvrtc.LibraryPath, Does.Contain("nvrtc"));
        TestContext.Out.WriteLine(
            $"NVRTC {Nvrtc.Version} from {Nvrtc.LibraryPath}; archs {string.Join(",", Nvrtc.SupportedArchitectures)}");
    }

    [Test]
    public void Compile_ALiteralKernelWithAHeader_ToPtxAndCubin()
    {
        RequireNvrtc();
        NvrtcOutput ptx = Nvrtc.Compile(Tiny, "tiny.cu", [Header], 80, preferCubin: false);
        Assert.That(ptx.IsCubin, Is.False);
        Assert.That(ptx.Architecture, Is.EqualTo("compute_80"));
        string text = Encoding.UTF8.GetString(ptx.Image);
        Assert.That(text, Does.Contain(".entry tiny").And.Contain(".target sm_80"));
        Assert.That(KernelLocator.LooksIntact(ptx.Image, KernelImageKind.Ptx), Is.True);

        if (!Nvrtc.CanEmitCubin(80)) Assert.Ignore("this NVRTC cannot emit a cubin for sm_80");
        NvrtcOutput cubin = Nvrtc.Compile(Tiny, "tiny.cu", [Header], 80);
        Assert.That(cubin.IsCubin, Is.True);
        Assert.That(cubin.Architecture, Is.EqualTo("sm_80"));
        Assert.That(KernelLocator.LooksIntact(cubin.Image, KernelImageKind.Cubin), Is.True);
    }

    [Test]
    public void Compile_ABrokenSource_ThrowsWithTheStatusAndTheProgramLog()
    {
        RequireNvrtc();
        var e = Assert.Throws<DferException>(
            () => Nvrtc.Compile("extern \"C\" __global__ void bad() { undeclared_thing = 1; }", "bad.cu", [], 80));
        Assert.That(e!.Message, Does.StartWith("nvrtc: NVRTC_ERROR_COMPILATION (6) in nvrtcCompileProgram for bad.cu"));
        Assert.That(e.Message, Does.Contain("undeclared_thing").And.Contain("bad.cu"));
    }

    public static IEnumerable<TestCaseData> EmbeddedTargets()
    {
        foreach (string m in KernelSources.Embedded.Modules)
        {
            yield return new TestCaseData(m, 80, false).SetName($"nvrtc {m}.cu compute_80 ptx");
            yield return new TestCaseData(m, 80, true).SetName($"nvrtc {m}.cu sm_80 cubin");
            yield return new TestCaseData(m, 90, true).SetName($"nvrtc {m}.cu sm_90 cubin");
        }
    }

    [TestCaseSource(nameof(EmbeddedTargets))]
    public void EveryEmbeddedSource_Compiles(string module, int sm, bool cubin)
    {
        RequireNvrtc();
        if (cubin && !Nvrtc.CanEmitCubin(sm)) Assert.Ignore($"NVRTC {Nvrtc.Version} cannot emit a cubin for sm_{sm}");
        KernelSources s = KernelSources.Embedded;
        NvrtcOutput output = Nvrtc.Compile(s.Source(module), module + ".cu", s.Headers, sm, preferCubin: cubin);
        Assert.That(output.IsCubin, Is.EqualTo(cubin));
        Assert.That(KernelLocator.LooksIntact(output.Image, cubin ? KernelImageKind.Cubin : KernelImageKind.Ptx),
            Is.True);
        if (!cubin)
        {
            string ptx = Encoding.UTF8.GetString(output.Image);
            foreach (string kernel in KernelSources.KernelNames(s.Source(module)))
                Assert.That(ptx, Does.Contain($".entry {kernel}("), $"{kernel} must keep its extern \"C\" name");
        }
        if (output.Log.Length > 0) TestContext.Out.WriteLine(output.Log);
    }

    [Test]
    public void Locator_WithRealNvrtc_CachesOnDisk()
    {
        RequireNvrtc();
        string root = CudaTestSupport.TempDir("nvrtc-cache");
        try
        {
            var sources = CudaTestSupport.Sources(("tiny.cu", Tiny), (Header.Name, Header.Contents));
            var paths = new KernelSearchPaths(null, Path.Combine(root, "asm"), Path.Combine(root, "cwd"),
                Path.Combine(root, "cache"));
            var first = new KernelLocator(paths, sources, NvrtcCompiler.Instance);
            KernelModuleImage a = first.Locate("tiny", 80);
            Assert.That(first.Compilations, Is.EqualTo(1));
            Assert.That(Path.GetFileName(a.Path),
                Does.StartWith($"tiny.sm_80.nvrtc{Nvrtc.Version.Major}.{Nvrtc.Version.Minor}."));
            var second = new KernelLocator(paths, sources, NvrtcCompiler.Instance);
            KernelModuleImage b = second.Locate("tiny", 80);
            Assert.That(second.Compilations, Is.Zero);
            Assert.That(b.Image, Is.EqualTo(a.Image));
        }
        finally { Directory.Delete(root, recursive: true); }
    }
}
