using System.Diagnostics;
using System.Text;

namespace Dfer.Tests.Native;

/// <summary>
/// The CUDA kernels in native/kernels run on the CPU emulator (native/emu, README.md there): g++ builds
/// the emulator's self-test and the conv3d, LSTM, attention_pool, small_ops and cast harnesses from the unchanged
/// kernel sources, and each must exit 0. This needs no GPU; it is ignored only where g++ is missing (CI installs it).
/// </summary>
[TestFixture]
[NonParallelizable]
public class NativeEmulationTests
{
    private static readonly Lazy<string> RootLazy = new(() =>
    {
        for (var dir = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Dfer.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException($"no Dfer.sln above {TestContext.CurrentContext.TestDirectory}");
    });

    private static string Root => RootLazy.Value;

    private string _tmp = "";

    [OneTimeSetUp]
    public void SetUp() => _tmp = Directory.CreateTempSubdirectory("dfer-emu-").FullName;

    [OneTimeTearDown]
    public void TearDown()
    {
        try { Directory.Delete(_tmp, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static string? Gxx()
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
            if (dir.Length > 0 && File.Exists(Path.Combine(dir, "g++"))) return Path.Combine(dir, "g++");
        return null;
    }

    private static (int Code, string Output, bool TimedOut) Run(string exe, IEnumerable<string> args, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(exe)
        {
            WorkingDirectory = Root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false
        };
        foreach (string a in args) psi.ArgumentList.Add(a);
        var output = new StringBuilder();
        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (!p.WaitForExit(timeout))
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            p.WaitForExit();
            lock (output) return (-1, output.ToString(), true);
        }
        p.WaitForExit();  // drains the redirected streams
        lock (output) return (p.ExitCode, output.ToString(), false);
    }

    // g++ -std=c++20 -O2 -DDFER_EMULATE -Inative/kernels -o <tmp>/<name> native/emu/<source>  (README.md)
    private string Build(string source, string name)
    {
        string gxx = Gxx() ?? throw new InvalidOperationException();
        string exe = Path.Combine(_tmp, name);
        var r = Run(gxx,
            new[] { "-std=c++20", "-O2", "-DDFER_EMULATE", "-Inative/kernels", "-o", exe,
            Path.Combine("native", "emu", source) },
            TimeSpan.FromMinutes(5));
        Assert.That(r.TimedOut, Is.False, $"g++ {source} timed out\n{r.Output}");
        Assert.That(r.Code, Is.Zero, $"g++ {source} failed:\n{r.Output}");
        return exe;
    }

    private static void RequireGxx()
    {
        if (Gxx() is null)
            Assert.Ignore("g++ is not on PATH: the CUDA emulator (native/emu) is built with g++ (CI installs it)");
    }

    /// <summary>
    /// Builds harness <paramref name="harness"/>.cpp, runs it on native/kernels/<paramref name="kernels"/>.cu and
    /// asserts it finished with exit 0 (<paramref name="exitCodes"/> says what its other codes mean); returns its
    /// output.
    /// </summary>
    private string RunHarness(string harness, string kernels, string exitCodes)
    {
        RequireGxx();
        string cu = Path.Combine(Root, "native", "kernels", kernels + ".cu");
        Assert.That(File.Exists(cu), Is.True, $"{cu} is missing");
        string exe = Build(harness + ".cpp", harness);
        var r = Run(exe, new[] { cu }, TimeSpan.FromMinutes(5));
        TestContext.Out.WriteLine(r.Output);
        Assert.That(r.TimedOut, Is.False, $"{harness} timed out\n{r.Output}");
        Assert.That(r.Code, Is.Zero, $"{harness} failed (exit {r.Code}: {exitCodes}):\n{r.Output}");
        return r.Output;
    }

    [Test]
    public void EmulatorSelfTest_Passes()
    {
        RequireGxx();
        string exe = Build("emu_selftest.cpp", "emu_selftest");
        var r = Run(exe, Array.Empty<string>(), TimeSpan.FromMinutes(2));
        TestContext.Out.WriteLine(r.Output);
        Assert.That(r.TimedOut, Is.False, $"emu_selftest timed out\n{r.Output}");
        Assert.That(r.Code, Is.Zero, $"emu_selftest failed (exit {r.Code}):\n{r.Output}");
        Assert.That(r.Output, Does.Contain("0 failed -> PASS"));
    }

    [Test]
    public void Conv3dKernels_MatchFloat64Reference_OnTheEmulator()
    {
        string output = RunHarness("conv3d_emu", "conv3d", "1 = a kernel case failed or is missing, 2 = harness error");
        Assert.That(output, Does.Contain(" 0 failed, 0 missing"));
    }

    [Test]
    public void LstmKernels_MatchFloat64Reference_InBothLaunchModes_OnTheEmulator()
    {
        string output = RunHarness("lstm_emu", "lstm", "1 = a case or emulator check failed, 2 = harness error");
        Assert.That(output, Does.Contain(" 0 failed"));
        // the grid barrier really synchronised (co-resident launch) and the M3DFEL-sized case ran in both modes
        Assert.That(output, Does.Contain("deadlock reported: pass"));
        Assert.That(output,
            Does.Match(@"m3dfel\S* slice \d+ \(\d+ blocks\)\s+persistent/smem\s+nmse \S+\s+max err \S+\s+pass"));
        Assert.That(output,
            Does.Match(@"m3dfel\S* slice \d+ \(\d+ blocks\)\s+step/global\s+nmse \S+\s+max err \S+\s+=first\s+pass"));
    }

    [Test]
    public void AttentionPoolKernels_MatchFloat64Reference_OnTheEmulator()
    {
        string output = RunHarness("attention_pool_emu", "attention_pool", "1 = a case failed, 2 = harness error");
        Assert.That(output, Does.Contain(" 0 failed"));
        Assert.That(output, Does.Match(@"m3dfel_b2\S*\s+qkv nmse \S+ max \S+\s+logits nmse \S+ max \S+\s+pass"));
    }

    [Test]
    public void SmallOpsKernels_MatchFloat64Reference_OnTheEmulator()
    {
        string output = RunHarness("small_ops_emu", "small_ops", "1 = a case failed, 2 = harness error");
        Assert.That(output, Does.Contain(" 0 failed"));
        Assert.That(output, Does.Match(@"permute\s+m3dfel_clip\S*_merged\s+nmse \S+ max \S+\s+pass"));
        Assert.That(output, Does.Match(@"softmax\s+rows5_n1000\s+nmse \S+ max \S+\s+pass"));
        Assert.That(output, Does.Match(@"avgpool3d\s+n3_t2_h5_w7_c33\s+nmse \S+ max \S+\s+pass"));
    }

    [Test]
    public void CastKernels_MatchValueReference_BitForBit_OnTheEmulator()
    {
        string output = RunHarness("cast_emu", "cast", "1 = a case failed, 2 = harness error");
        Assert.That(output, Does.Contain("cast_emu: 14 passed, 0 failed"));
        Assert.That(output, Does.Match(@"cast_f16_f32 all65536\s+n\s+65536\s+pass"));
        Assert.That(output, Does.Match(@"cast_f32_bf16 n1037 grid3\s+n\s+1037\s+pass"));
    }
}
