using Dfer.Devices.Cuda;

namespace Dfer.Tests.Devices;

[TestFixture]
public class KernelLocatorTests
{
    private string _root = null!;
    private string _hash = null!;

    [SetUp]
    public void SetUp()
    {
        _root = CudaTestSupport.TempDir("locator");
        _hash = CudaTestSupport.Fake.Sha256("fill");
    }

    [TearDown]
    public void TearDown()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    private string Dir(params string[] parts) => Path.Combine([_root, .. parts]);

    /// <summary>$DFER_KERNELS_DIR = root/env, assembly in root/repo/bin (so its kernels/ is root/repo/bin/kernels),
    /// repo root root/repo.</summary>
    private KernelSearchPaths Paths(bool env = true, string? current = null)
    {
        string repo = Dir("repo");
        Directory.CreateDirectory(Path.Combine(repo, "bin"));
        File.WriteAllText(Path.Combine(repo, "CMakeLists.txt"), "");
        File.WriteAllText(Path.Combine(repo, "Dfer.sln"), "");
        return new KernelSearchPaths(env ? Dir("env") : null, Path.Combine(repo, "bin"), current ?? Dir("elsewhere"),
            Dir("cache"));
    }

    private static KernelLocator Locator(KernelSearchPaths paths, IKernelCompiler? compiler = null,
        KernelSources? sources = null) =>
        new(paths, sources ?? CudaTestSupport.Fake, compiler
        ?? new FakeCompiler(unavailable: "NVRTC is not installed (libnvrtc.so.* not found)"));

    [Test]
    public void CompiledDirectories_AreEnvThenAssemblyThenCMakeBuild_FromAssemblyOrCurrentDirectory()
    {
        var dirs = Paths().CompiledDirectories();
        Assert.That(dirs.Select(d => d.Dir),
            Is.EqualTo(new[] { Dir("env"), Dir("repo", "bin", "kernels"), Dir("repo", "build", "kernels") }));

        // The walk up from the current directory finds a second checkout when the assembly is elsewhere.
        string other = Dir("other");
        Directory.CreateDirectory(Path.Combine(other, "a", "b"));
        File.WriteAllText(Path.Combine(other, "CMakeLists.txt"), "");
        File.WriteAllText(Path.Combine(other, "Dfer.sln"), "");
        var fromCwd = new KernelSearchPaths(null, Dir("nowhere"), Path.Combine(other, "a", "b"), Dir("cache"))
            .CompiledDirectories();
        Assert.That(fromCwd.Select(d => d.Dir),
            Is.EqualTo(new[] { Dir("nowhere", "kernels"), Path.Combine(other, "build", "kernels") }));
    }

    [Test]
    public void Locate_TakesTheFirstFreshDirectory_InOrder()
    {
        var paths = Paths();
        CudaTestSupport.WriteCompiled(Dir("env"), "fill", _hash, cubinSm: 90, marker: "env");
        CudaTestSupport.WriteCompiled(Dir("repo", "bin", "kernels"), "fill", _hash, cubinSm: 90, marker: "asm");
        CudaTestSupport.WriteCompiled(Dir("repo", "build", "kernels"), "fill", _hash, cubinSm: 90, marker: "build");

        Assert.That(Locator(paths).Locate("fill", 90).Path, Is.EqualTo(Path.Combine(Dir("env"), "fill.sm_90.cubin")));
        Directory.Delete(Dir("env"), true);
        Assert.That(Locator(paths).Locate("fill", 90).Path,
            Is.EqualTo(Path.Combine(Dir("repo", "bin", "kernels"), "fill.sm_90.cubin")));
        Directory.Delete(Dir("repo", "bin", "kernels"), true);
        var image = Locator(paths).Locate("fill", 90);
        Assert.That(image.Path, Is.EqualTo(Path.Combine(Dir("repo", "build", "kernels"), "fill.sm_90.cubin")));
        Assert.That(image.Kind, Is.EqualTo(KernelImageKind.Cubin));
        Assert.That(image.Image, Is.EqualTo(CudaTestSupport.FakeCubin("build")));
        Assert.That(image.Origin, Does.Contain("CMake build"));
    }

    [Test]
    public void Locate_PrefersTheCubinForThisGpu_ElsePtx()
    {
        var paths = Paths(env: false);
        string build = Dir("repo", "build", "kernels");
        CudaTestSupport.WriteCompiled(build, "fill", _hash, cubinSm: 80, ptx: true);
        Assert.That(Locator(paths).Locate("fill", 80).Kind, Is.EqualTo(KernelImageKind.Cubin));
        var ptx = Locator(paths).Locate("fill", 90);
        Assert.That(ptx.Kind, Is.EqualTo(KernelImageKind.Ptx));
        Assert.That(ptx.Path, Is.EqualTo(Path.Combine(build, "fill.ptx")));
        Assert.That(ptx.Origin, Does.Contain("JIT"));
    }

    [Test]
    public void Locate_SkipsAStaleDirectory_AndSaysWhy()
    {
        var paths = Paths();
        CudaTestSupport.WriteCompiled(Dir("env"), "fill", new string('0', 64), cubinSm: 90);
        CudaTestSupport.WriteCompiled(Dir("repo", "build", "kernels"), "fill", _hash, cubinSm: 90);
        var locator = Locator(paths);
        Assert.That(locator.Locate("fill", 90).Path, Does.StartWith(Dir("repo", "build", "kernels")));
        Assert.That(locator.Skipped, Has.Some.Contains(Dir("env")).And.Some.Contains("stale"));
    }

    [Test]
    public void Locate_SkipsADirectoryWithoutAHashFile_OrWithACorruptImage()
    {
        var paths = Paths();
        CudaTestSupport.WriteCompiled(Dir("env"), "fill", hash: null, cubinSm: 90);
        CudaTestSupport.WriteCompiled(Dir("repo", "bin", "kernels"), "fill", _hash, cubinSm: 90);
        // truncated
        File.WriteAllBytes(Path.Combine(Dir("repo", "bin", "kernels"), "fill.sm_90.cubin"),
            CudaTestSupport.FakeCubin()[..40]);
        CudaTestSupport.WriteCompiled(Dir("repo", "build", "kernels"), "fill", _hash, ptx: true);
        var locator = Locator(paths);
        Assert.That(locator.Locate("fill", 90).Path,
            Is.EqualTo(Path.Combine(Dir("repo", "build", "kernels"), "fill.ptx")));
        Assert.That(locator.Skipped, Has.Some.Contains("fill.sources.sha256"));
        Assert.That(locator.Skipped, Has.Some.Contains("not a valid cubin"));
    }

    [Test]
    public void WithNeitherKernelsNorNvrtc_OneLineSaysWhereItLookedAndWhatToDo()
    {
        var paths = Paths();
        CudaTestSupport.WriteCompiled(Dir("env"), "fill", new string('1', 64), ptx: true);
        var locator = Locator(paths);
        var e = Assert.Throws<DferException>(() => locator.Locate("fill", 90));
        string m = e!.Message;
        Assert.That(m, Does.Not.Contain("\n"));
        Assert.That(m, Does.StartWith("backend cuda: no compiled kernels for fill (looked in "));
        Assert.That(m, Does.Contain(Dir("env")).And.Contain(Dir("repo", "build", "kernels")).And.Contain("stale"));
        Assert.That(m, Does.Contain("NVRTC is not installed (libnvrtc.so.* not found)"));
        Assert.That(m,
            Does.Contain("cmake -S . -B build && cmake --build build").And.Contain("install the CUDA toolkit"));
        Assert.That(locator.UnavailableReason(), Does.StartWith("no compiled kernels for fill"));
    }

    [Test]
    public void UnavailableReason_IsNull_WithNvrtc_OrWithAFreshPrebuiltModule()
    {
        Assert.That(Locator(Paths(), new FakeCompiler()).UnavailableReason(), Is.Null);
        var paths = Paths();
        CudaTestSupport.WriteCompiled(Dir("repo", "build", "kernels"), "fill", _hash, cubinSm: 86);
        Assert.That(Locator(paths).UnavailableReason(), Is.Null,
            "a cubin for some sm counts, the GPU is not known yet");
    }

    [Test]
    public void Nvrtc_CompilesOnce_ThenTheDiskCacheAnswers()
    {
        var paths = Paths(env: false);
        var compiler = new FakeCompiler();
        var first = Locator(paths, compiler).Locate("fill", 90);
        Assert.That(compiler.Calls, Is.EqualTo(1));
        Assert.That(first.Path, Does.StartWith(Dir("cache")).And.EndWith(".cubin"));
        Assert.That(Path.GetFileName(first.Path), Does.StartWith("fill.sm_90.fake1.0."));
        Assert.That(first.Origin, Does.Contain("compiled at first use").And.Contain("cached at"));
        Assert.That(Directory.GetFiles(Dir("cache")), Has.Length.EqualTo(1), "no temp file left behind");

        var locator = Locator(paths, compiler);   // a new process, in effect
        var second = locator.Locate("fill", 90);
        Assert.That(compiler.Calls, Is.EqualTo(1), "second request must hit the cache");
        Assert.That(locator.Compilations, Is.Zero);
        Assert.That(second.Image, Is.EqualTo(first.Image));
        Assert.That(second.FromCache, Is.True);
        Assert.That(second.Origin, Does.Contain("cache"));

        locator.Locate("fill", 80);
        Assert.That(compiler.Calls, Is.EqualTo(2), "another GPU is another entry");
    }

    [Test]
    public void Nvrtc_ADifferentSourceHash_MissesTheCache()
    {
        var paths = Paths(env: false);
        var compiler = new FakeCompiler(cubin: false);
        var a = Locator(paths, compiler).Locate("fill", 90);
        var changed = CudaTestSupport.Sources(("fill.cu", "extern \"C\" __global__ void fill(float* y) { /* v2 */ }\n"),
            ("common.cuh", "#pragma once\n"));
        var b = Locator(paths, compiler, changed).Locate("fill", 90);
        Assert.That(compiler.Calls, Is.EqualTo(2));
        Assert.That(b.Path, Is.Not.EqualTo(a.Path));
        Assert.That(b.Kind, Is.EqualTo(KernelImageKind.Ptx));
    }

    [TestCase(0, TestName = "empty cache file")]
    [TestCase(40, TestName = "truncated cache file")]
    [TestCase(-1, TestName = "garbage cache file")]
    public void Nvrtc_ACorruptCacheFile_IsRecompiled(int keep)
    {
        var paths = Paths(env: false);
        var compiler = new FakeCompiler();
        string file = Locator(paths, compiler).Locate("fill", 90).Path!;
        byte[] bytes = File.ReadAllBytes(file);
        File.WriteAllBytes(file, keep >= 0 ? bytes[..keep] : "not an ELF file at all, just text"u8.ToArray());

        var locator = Locator(paths, compiler);
        var image = locator.Locate("fill", 90);
        Assert.That(compiler.Calls, Is.EqualTo(2));
        Assert.That(image.Image, Is.EqualTo(bytes));
        Assert.That(File.ReadAllBytes(file), Is.EqualTo(bytes), "the cache entry is rewritten");
        Assert.That(locator.Skipped, Has.Some.Contains("corrupt cache file"));
    }

    [Test]
    public void Nvrtc_AnUnwritableCache_StillGivesTheImage()
    {
        var baseline = Paths(env: false);
        File.WriteAllText(Dir("blocker"), "a file where the cache folder should be");
        var paths = baseline with { CacheDirectory = Path.Combine(Dir("blocker"), "kernels") };
        var locator = Locator(paths, new FakeCompiler());
        var image = locator.Locate("fill", 90);
        Assert.That(image.Path, Is.Null);
        Assert.That(image.Origin, Does.Contain("not cached"));
        Assert.That(locator.Skipped, Has.Some.Contains("cannot write the kernel cache"));
    }

    [Test]
    public void Recompile_EvictsARejectedCacheEntry()
    {
        var paths = Paths(env: false);
        var compiler = new FakeCompiler();
        var locator = Locator(paths, compiler);
        var image = locator.Locate("fill", 90);
        var again = locator.Recompile(image, 90);
        Assert.That(compiler.Calls, Is.EqualTo(2));
        Assert.That(again.Path, Is.EqualTo(image.Path));
        Assert.That(locator.Locate("fill", 90), Is.SameAs(again));
    }

    [Test]
    public void Plan_SaysWhereAModuleWouldComeFrom_WithoutCompiling()
    {
        var paths = Paths(env: false);
        var compiler = new FakeCompiler();
        Assert.That(Locator(paths, compiler).Plan("fill", 90), Does.StartWith("fake1.0 at first use (cache "));
        Assert.That(compiler.Calls, Is.Zero);
        CudaTestSupport.WriteCompiled(Dir("repo", "build", "kernels"), "fill", _hash, cubinSm: 90);
        Assert.That(Locator(paths, compiler).Plan("fill", 90),
            Does.StartWith("fill.sm_90.cubin in " + Dir("repo", "build", "kernels")));
    }

    [Test]
    public void LooksIntact_ChecksMagicAndShape()
    {
        Assert.That(KernelLocator.LooksIntact(CudaTestSupport.FakeCubin(), KernelImageKind.Cubin), Is.True);
        Assert.That(KernelLocator.LooksIntact([], KernelImageKind.Cubin), Is.False);
        byte[] shTableBeyondEnd = CudaTestSupport.FakeCubin();
        BitConverter.GetBytes((ushort)64).CopyTo(shTableBeyondEnd, 0x3A);
        BitConverter.GetBytes((ushort)3).CopyTo(shTableBeyondEnd, 0x3C);
        Assert.That(KernelLocator.LooksIntact(shTableBeyondEnd, KernelImageKind.Cubin), Is.False);

        byte[] Ptx(string s) => System.Text.Encoding.UTF8.GetBytes(s);
        Assert.That(KernelLocator.LooksIntact(Ptx(CudaTestSupport.FakePtx()), KernelImageKind.Ptx), Is.True);
        Assert.That(KernelLocator.LooksIntact(Ptx(CudaTestSupport.FakePtx())[..^8], KernelImageKind.Ptx), Is.False,
            "truncated");
        Assert.That(KernelLocator.LooksIntact(Ptx(".target sm_80\n"), KernelImageKind.Ptx), Is.False, "no .version");
        Assert.That(KernelLocator.LooksIntact([], KernelImageKind.Ptx), Is.False);
    }
}
