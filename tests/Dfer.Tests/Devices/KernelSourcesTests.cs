using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Dfer.Devices.Cuda;

namespace Dfer.Tests.Devices;

[TestFixture]
public class KernelSourcesTests
{
    private static string KernelDir => Path.Combine(CudaTestSupport.RepoRoot, "native", "kernels");

    [Test]
    public void Embedded_HoldsEveryKernelFile_ByteForByte()
    {
        var onDisk = Directory.GetFiles(KernelDir).Where(f => f.EndsWith(".cu") || f.EndsWith(".cuh"))
            .Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        KernelSources embedded = KernelSources.Embedded;
        Assert.That(embedded.Modules.Select(m => m + ".cu").Concat(embedded.Headers.Select(h => h.Name))
            .Order(StringComparer.Ordinal), Is.EqualTo(onDisk));
        Assert.That(embedded.Headers.Select(h => h.Name), Does.Contain("common.cuh"));
        foreach (string m in embedded.Modules)
            Assert.That(embedded.Source(m), Is.EqualTo(File.ReadAllText(Path.Combine(KernelDir, m + ".cu"))), m);
    }

    [Test]
    public void Sha256_IsTheHashOfTheSha256sumListing_ModuleThenHeadersInOrdinalOrder()
    {
        KernelSources s = CudaTestSupport.Sources(("k.cu", "kernel"), ("b.cuh", "B"), ("a.cuh", "A"), ("Z.cuh", "Z"));
        static string Hex(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
        // What `sha256sum k.cu Z.cuh a.cuh b.cuh | sha256sum` prints.
        string expected = Hex($"{Hex("kernel")}  k.cu\n{Hex("Z")}  Z.cuh\n{Hex("A")}  a.cuh\n{Hex("B")}  b.cuh\n");
        Assert.That(s.Sha256("k"), Is.EqualTo(expected));
        Assert.That(CudaTestSupport.Sources(("k.cu", "kernel"), ("b.cuh", "B!"), ("a.cuh", "A"), ("Z.cuh", "Z"))
            .Sha256("k"), Is.Not.EqualTo(expected),
            "a header change must change every module's hash");
    }

    [Test]
    public void UnknownModule_IsAnErrorListingWhatThereIs()
    {
        var e = Assert.Throws<DferException>(() => CudaTestSupport.Fake.Sha256("nope"));
        Assert.That(e!.Message, Does.Contain("nope.cu").And.Contain("fill.cu"));
    }

    private static string? CMake()
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
            if (dir.Length > 0 && File.Exists(Path.Combine(dir, "cmake"))) return Path.Combine(dir, "cmake");
        return null;
    }

    private static string RunScript(string kernelDir, string name)
    {
        string cmake = CMake() ?? throw new InvalidOperationException();
        string output = Path.Combine(kernelDir, name + ".sources.sha256");
        var psi = new ProcessStartInfo(cmake) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string a in new[] { $"-DKERNEL_DIR={kernelDir}", $"-DNAME={name}", $"-DOUT={output}", "-P",
                     Path.Combine(CudaTestSupport.RepoRoot, "cmake", "sources_sha256.cmake") })
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.That(p.ExitCode, Is.Zero, err);
        string text = File.ReadAllText(output);
        Assert.That(text, Does.Match("^[0-9a-f]{64}\n$"), "one line of lowercase hex");
        return text.Trim();
    }

    [Test]
    public void CMakeScript_AgreesWithKernelSources_OnAwkwardText()
    {
        if (CMake() is null) Assert.Ignore("cmake is not on PATH");
        string dir = CudaTestSupport.TempDir("sha");
        try
        {
            // What CMake's string handling could mangle: list separators, variable syntax, escapes, brackets, CRLF,
            // UTF-8.
            var files = new Dictionary<string, byte[]>
            {
                ["odd.cu"]
                = Encoding.UTF8.GetBytes(
                    "a;b;;c\r\n${CMAKE_COMMAND} $ENV{HOME} \\n \\\\ \"q\" [[x]] [=[y]=] # é ü 中\n\ttab  \n"),
                ["b.cuh"] = Encoding.UTF8.GetBytes("// b;\n#define X(a) \\\n  a\n"),
                ["a.cuh"] = Encoding.UTF8.GetBytes("@VAR@ ${"),
                ["C.cuh"] = Encoding.UTF8.GetBytes("capital sorts first\n"),
            };
            foreach (var (name, bytes) in files) File.WriteAllBytes(Path.Combine(dir, name), bytes);
            Assert.That(RunScript(dir, "odd"), Is.EqualTo(new KernelSources(files).Sha256("odd")));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Test]
    public void CMakeScript_AgreesWithKernelSources_OnTheRealKernels()
    {
        if (CMake() is null) Assert.Ignore("cmake is not on PATH");
        if (KernelSources.Embedded.Modules.Count == 0) Assert.Ignore("no .cu file in native/kernels yet");
        string dir = CudaTestSupport.TempDir("sha-real");
        try
        {
            foreach (string f in Directory.GetFiles(KernelDir)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
            foreach (string m in KernelSources.Embedded.Modules)
                Assert.That(RunScript(dir, m), Is.EqualTo(KernelSources.Embedded.Sha256(m)), m);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
