using System.Reflection;
using System.Text.RegularExpressions;
using Dfer.Devices;
using Dfer.Devices.Cpu;
using Dfer.Devices.Cuda;
using Dfer.Devices.Ilgpu;

namespace Dfer.Tests.Devices;

/// <summary>
/// The engine's environment overrides (docs/environment.md): parsed in one class, bad values refused with one line
/// naming the variable, every variable anyone reads documented, and variant pins that are constructor arguments,
/// not static state.
/// </summary>
[TestFixture]
public class EngineEnvironmentTests
{
    private static string Root => CudaTestSupport.RepoRoot;

    [Test]
    public void Switches_TakeTheirValues_AndUnsetMeansTheDefault()
    {
        Assert.That(EngineEnvironment.ParseIlgpuConv3d(null), Is.Null);
        Assert.That(EngineEnvironment.ParseIlgpuConv3d(""), Is.Null);
        Assert.That(EngineEnvironment.ParseIlgpuConv3d("direct"), Is.EqualTo(IlgpuConv3dVariant.Direct));
        Assert.That(EngineEnvironment.ParseIlgpuConv3d("Tiled"), Is.EqualTo(IlgpuConv3dVariant.Tiled));

        Assert.That(EngineEnvironment.ParseSplitK(null), Is.Null);
        Assert.That(EngineEnvironment.ParseSplitK("0"), Is.EqualTo(0));
        Assert.That(EngineEnvironment.ParseSplitK("12"), Is.EqualTo(12));

        Assert.That(EngineEnvironment.ParseLstmMode(null), Is.EqualTo(CudaLstmMode.Auto));
        Assert.That(EngineEnvironment.ParseLstmMode("auto"), Is.EqualTo(CudaLstmMode.Auto));
        Assert.That(EngineEnvironment.ParseLstmMode("step"), Is.EqualTo(CudaLstmMode.Step));
        Assert.That(EngineEnvironment.ParseLstmMode("PERSISTENT"), Is.EqualTo(CudaLstmMode.Persistent));

        Assert.That(EngineEnvironment.ParseFlag("DFER_CUDA_SYNC", null, false), Is.False);
        Assert.That(EngineEnvironment.ParseFlag("DFER_CUDA_SYNC", "1", false), Is.True);
        Assert.That(EngineEnvironment.ParseFlag("DFER_CUDA_GRAPHS", null, true), Is.True);
        Assert.That(EngineEnvironment.ParseFlag("DFER_CUDA_GRAPHS", "0", true), Is.False);
    }

    public static IEnumerable<TestCaseData> BadValues()
    {
        yield return new TestCaseData("DFER_ILGPU_CONV3D", "winograd",
            (Action)(() => EngineEnvironment.ParseIlgpuConv3d("winograd")));
        yield return new TestCaseData("DFER_CONV3D_SPLITK", "-1", (Action)(() => EngineEnvironment.ParseSplitK("-1")));
        yield return new TestCaseData("DFER_CONV3D_SPLITK", "four",
            (Action)(() => EngineEnvironment.ParseSplitK("four")));
        yield return new TestCaseData("DFER_LSTM_MODE", "fast",
            (Action)(() => EngineEnvironment.ParseLstmMode("fast")));
        yield return new TestCaseData("DFER_CUDA_SYNC", "yes",
            (Action)(() => EngineEnvironment.ParseFlag("DFER_CUDA_SYNC", "yes", false)));
        yield return new TestCaseData("DFER_CUDA_GRAPHS", "off",
            (Action)(() => EngineEnvironment.ParseFlag("DFER_CUDA_GRAPHS", "off", true)));
        yield return new TestCaseData("DFER_CPU_ISA", "avx1024",
            (Action)(() => EngineEnvironment.ParseCpuIsa("avx1024", true, true)));
        yield return new TestCaseData("DFER_CPU_ISA", "avx512",
            (Action)(() => EngineEnvironment.ParseCpuIsa("avx512", true, false)));
        yield return new TestCaseData("DFER_CPU_ISA", "\x1b[31mavx2",
            (Action)(() => EngineEnvironment.ParseCpuIsa("\x1b[31mavx2", true, true)));
        yield return new TestCaseData("DFER_LSTM_MODE", "\x1b[31mstep",
            (Action)(() => EngineEnvironment.ParseLstmMode("\x1b[31mstep")));
    }

    [TestCaseSource(nameof(BadValues))]
    public void BadValue_IsRefused_WithOneLineNamingTheVariable(string name, string value, Action parse)
    {
        var e = Assert.Throws<DferException>(() => parse())!;
        Assert.That(e.Message, Does.StartWith(name + "="));
        Assert.That(e.Message, Does.Contain("expected"));
        Assert.That(e.Message, Does.Not.Contain("\n").And.Not.Contain("\x1b"), "one printable line");
    }

    [Test]
    public void FromEnvironment_GathersTheSwitches()
    {
        Assert.That(IlgpuVariants.FromEnvironment(),
            Is.EqualTo(new IlgpuVariants { Conv3d = EngineEnvironment.IlgpuConv3d }));
        Assert.That(CudaVariants.FromEnvironment(), Is.EqualTo(new CudaVariants
        {
            Conv3dSplitK = EngineEnvironment.Conv3dSplitK,
            LstmMode = EngineEnvironment.LstmMode,
            SyncEachLaunch = EngineEnvironment.CudaSync,
            Graphs = EngineEnvironment.CudaGraphs,
        }));
        Assert.That(CudaVariants.Default.Graphs, Is.True);
        Assert.That(CudaVariants.Default.SyncEachLaunch, Is.False);
        Assert.That(new CpuContext(1).Variants, Is.SameAs(CpuVariants.Default));
        Assert.That(CpuVariants.Default, Is.EqualTo(CpuVariants.FromIsa(EngineEnvironment.CpuIsa)));
    }

    /// <summary>The engine reads the environment in EngineEnvironment only.</summary>
    [Test]
    public void OnlyEngineEnvironment_ReadsTheEnvironment()
    {
        string engine = Path.Combine(Root, "src", "Dfer.Engine");
        var readers = Directory.EnumerateFiles(engine, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}")
            && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .Where(f => File.ReadAllText(f).Contains("GetEnvironmentVariable"))
            .Select(f => Path.GetRelativePath(Root, f).Replace('\\', '/'))
            .ToList();
        Assert.That(readers, Is.EquivalentTo(new[] { "src/Dfer.Engine/Devices/EngineEnvironment.cs" }));
    }

    /// <summary>Every variable read in C# (engine, CLI, oracle, tests, perf) or taken by a script is named in
    /// docs/environment.md.</summary>
    [Test]
    public void EveryVariableRead_IsDocumented()
    {
        string doc = File.ReadAllText(Path.Combine(Root, "docs", "environment.md"));
        var names = new SortedSet<string>(StringComparer.Ordinal);
        var csharp = new[] { "src", "tests", "perf" }.Select(d => Path.Combine(Root, d))
            .SelectMany(d => Directory.EnumerateFiles(d, "*.cs", SearchOption.AllDirectories))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}")
            && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"));
        foreach (string f in csharp)
        {
            string text = File.ReadAllText(f);
            foreach (Match m in Regex.Matches(text, @"GetEnvironmentVariable\(""([A-Za-z_][A-Za-z0-9_]*)""\)"))
                names.Add(m.Groups[1].Value);
            foreach (Match m in Regex.Matches(text, @"EnvironmentVariable\s*=\s*""([A-Z_][A-Z0-9_]*)"""))
                names.Add(m.Groups[1].Value);
        }
        // The engine's names are string literals in EngineEnvironment (Switch("NAME", ...), Folder("NAME")).
        string engine = File.ReadAllText(Path.Combine(Root, "src", "Dfer.Engine", "Devices", "EngineEnvironment.cs"));
        foreach (Match m in Regex.Matches(engine, @"(?:Switch|Folder|ParseFlag)\(""([A-Z_][A-Z0-9_]*)"""))
            names.Add(m.Groups[1].Value);
        // Scripts: ${NAME:-default} is a variable the caller may set.
        var scripts = Directory.EnumerateFiles(Path.Combine(Root, "scripts"), "*.sh")
            .Concat(Directory.EnumerateFiles(Path.Combine(Root, "perf", "gpu"), "*.sh"));
        foreach (string f in scripts)
            foreach (Match m in Regex.Matches(File.ReadAllText(f), @"\$\{([A-Z_][A-Z0-9_]*):-"))
                names.Add(m.Groups[1].Value);
        // Internal script variables that only carry a value between a script's own lines.
        string[] internalNames = ["KERNELS_BUILT", "PY"];
        Assert.That(names,
            Is.SupersetOf(
            new[] { "DFER_CPU_ISA", "DFER_ILGPU_CONV3D", "DFER_CONV3D_SPLITK", "DFER_LSTM_MODE", "DFER_CUDA_SYNC",
            "DFER_CUDA_GRAPHS", "DFER_DEBUG" }),
            "the scan finds the variables it should");
        var missing = names.Except(internalNames).Where(n => !doc.Contains($"`{n}`", StringComparison.Ordinal))
            .ToList();
        Assert.That(missing, Is.Empty, "read but not in docs/environment.md");
    }

    /// <summary>
    /// Variant pins are constructor arguments (CpuVariants, IlgpuVariants, CudaVariants), never static state a test
    /// sets: no static property with a setter and no static field that is not read-only in the devices, ops and
    /// backends, except the native-library handles that .NET's resolver needs process-wide.
    /// </summary>
    [Test]
    public void NoStaticMutableHooks_InDevicesOpsOrBackends()
    {
        string[] layers = ["Dfer.Devices", "Dfer.Ops", "Dfer.Backends"];
        const BindingFlags Static =
            BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;
        var found = new List<string>();
        foreach (Type t in typeof(EngineEnvironment).Assembly.GetTypes())
        {
            if (t.Namespace is null
                || !layers.Any(l => t.Namespace == l
                || t.Namespace.StartsWith(l + ".", StringComparison.Ordinal))) continue;
            // compiler-generated closures and lambda caches
            if (t.FullName!.Contains('<') || t.Name == nameof(NativeLibraries)) continue;
            foreach (PropertyInfo p in t.GetProperties(Static))
                if (p.SetMethod is not null) found.Add($"{t.FullName}.{p.Name} (settable)");
            foreach (FieldInfo f in t.GetFields(Static))
                if (!f.IsInitOnly && !f.IsLiteral && !f.Name.Contains('<'))
                    found.Add($"{t.FullName}.{f.Name} (not read-only)");
        }
        Assert.That(found, Is.Empty);
    }
}
