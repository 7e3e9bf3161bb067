using System.Text;
using Dfer.Devices.Cuda;

namespace Dfer.Tests.Devices;

/// <summary>Temp folders, fake sources and a counting fake compiler for the CUDA plumbing tests (no GPU, no NVRTC
/// needed).</summary>
internal static class CudaTestSupport
{
    /// <summary>The repository root (the folder with Dfer.sln), found from the test assembly.</summary>
    public static string RepoRoot { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var d = new DirectoryInfo(TestContext.CurrentContext.TestDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Dfer.sln"))) return d.FullName;
        throw new InvalidOperationException("Dfer.sln not found above the test directory");
    }

    /// <summary>A fresh empty folder under the system temp folder.</summary>
    public static string TempDir(string tag)
    {
        string dir = Path.Combine(Path.GetTempPath(), $"dfer-{tag}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    public static KernelSources Sources(params (string Name, string Text)[] files) =>
        new(files.ToDictionary(f => f.Name, f => Encoding.UTF8.GetBytes(f.Text)));

    public static readonly KernelSources Fake = Sources(
        ("fill.cu", "// launch fill: block 128, tile_m 1, tile_n 1, smem 0\n#include \"common.cuh\"\nextern \"C\" "
            + "__global__ void fill(float* y) { }\n"),
        ("common.cuh", "#pragma once\n"));

    /// <summary>A minimal 64-bit ELF header with an empty section table: passes KernelLocator's cubin check.</summary>
    public static byte[] FakeCubin(string marker = "")
    {
        var b = new byte[64 + marker.Length];
        b[0] = 0x7F; b[1] = (byte)'E'; b[2] = (byte)'L'; b[3] = (byte)'F'; b[4] = 2;
        BitConverter.GetBytes((ulong)64).CopyTo(b, 0x28);   // e_shoff: right after the header
        Encoding.ASCII.GetBytes(marker).CopyTo(b, 64);
        return b;
    }

    public static string FakePtx(string marker = "") =>
        $"//\n// fake {marker}\n.version 7.8\n.target sm_80\n.address_size 64\n.visible .entry fill() {{ ret; }}\n";

    /// <summary>Writes NAME.sm_XY.cubin and/or NAME.ptx plus NAME.sources.sha256 (the given hash) into
    /// <paramref name="dir"/>.</summary>
    public static void WriteCompiled(string dir, string module, string? hash, int? cubinSm = null, bool ptx = false,
        string marker = "")
    {
        Directory.CreateDirectory(dir);
        if (cubinSm is int sm) File.WriteAllBytes(Path.Combine(dir, $"{module}.sm_{sm}.cubin"), FakeCubin(marker));
        if (ptx) File.WriteAllText(Path.Combine(dir, module + ".ptx"), FakePtx(marker));
        if (hash is not null) File.WriteAllText(Path.Combine(dir, module + ".sources.sha256"), hash + "\n");
    }
}

/// <summary>Counts compilations and returns a fake cubin (or PTX) naming the source it was given.</summary>
internal sealed class FakeCompiler(bool cubin = true, string? unavailable = null) : IKernelCompiler
{
    public int Calls;
    public string? UnavailableReason => unavailable;
    public string Identity => "fake 1.0";
    public string Tag => "fake1.0";

    public NvrtcOutput Compile(string source, string fileName, IReadOnlyList<KernelHeader> headers, int sm)
    {
        Interlocked.Increment(ref Calls);
        return cubin
            ? new NvrtcOutput(CudaTestSupport.FakeCubin(fileName), true, $"sm_{sm}", "")
            : new NvrtcOutput(Encoding.UTF8.GetBytes(CudaTestSupport.FakePtx(fileName)), false, $"compute_{sm}", "");
    }
}
