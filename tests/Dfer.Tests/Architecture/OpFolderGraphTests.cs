using System.Reflection;
using System.Reflection.Emit;
using System.Text.RegularExpressions;
using Dfer.Ops;
using Dfer.Tests.Devices;

namespace Dfer.Tests.Architecture;

/// <summary>
/// An op folder (namespace <c>Dfer.Ops.&lt;Op&gt;</c>) composes primitives, devices and tensors, never
/// another op folder (docs/architecture.md: layers). Two views of the same rule: the compiled
/// engine (every type a <c>Dfer.Ops.X</c> type names in its signatures or its method bodies' IL)
/// and the sources (<c>Dfer.Ops.Y</c> in any file of <c>src/Dfer.Engine/Ops/X/</c>, usings included).
/// </summary>
public sealed partial class OpFolderGraphTests
{
    private const string OpsPrefix = "Dfer.Ops.";

    /// <summary>
    /// Edges not yet removed (issue 22); none are left: the composite ops take parameter records and
    /// kernels from Primitives. The list may only shrink: an edge that is gone must leave it, and no
    /// other edge may appear.
    /// </summary>
    private static readonly string[] Pending =
    [
    ];

    [Test]
    public void CompiledOpFolders_ReferenceNoOtherOpFolder() => AssertOnlyPending(CompiledEdges(typeof(Op).Assembly));

    [Test]
    public void OpFolderSources_NameNoOtherOpFolder() =>
        AssertOnlyPending(SourceEdges(Path.Combine(CudaTestSupport.RepoRoot, "src", "Dfer.Engine", "Ops")));

    private static void AssertOnlyPending(List<string> edges)
    {
        static string Edge(string e) => e[..e.IndexOf(" (", StringComparison.Ordinal)];
        var unexpected = edges.Where(e => !Pending.Contains(Edge(e))).ToList();
        Assert.That(unexpected, Is.Empty, "op folder → op folder references:\n" + string.Join("\n", unexpected));
        var gone = Pending.Where(p => !edges.Any(e => Edge(e) == p)).ToList();
        Assert.That(gone, Is.Empty, "no longer referenced, remove from Pending: " + string.Join(", ", gone));
    }

    /// <summary>The checks see an edge when there is one: a planted source file and a planted type.</summary>
    [Test]
    public void PlantedEdges_AreReported()
    {
        string root = Path.Combine(Path.GetTempPath(), "dfer-opgraph-" + Guid.NewGuid().ToString("N"));
        try
        {
            Directory.CreateDirectory(Path.Combine(root, "Lstm"));
            File.WriteAllText(Path.Combine(root, "Lstm", "Lstm.Cpu.cs"),
                "using Dfer.Ops.Lstm;\nusing Dfer.Primitives.Cpu;\nnamespace Dfer.Ops.Lstm;\nclass A { "
                + "Dfer.Ops.Linear.LinearOp? _l; }\n");
            Directory.CreateDirectory(Path.Combine(root, "Softmax"));
            File.WriteAllText(Path.Combine(root, "Softmax", "Softmax.cs"),
                "using Dfer.Ops.Gelu;\nnamespace Dfer.Ops.Softmax;\n");
            Assert.That(SourceEdges(root),
                Is.EqualTo(new[] { "Lstm → Linear (Lstm.Cpu.cs)", "Softmax → Gelu (Softmax.cs)" }));
        }
        finally
        {
            Directory.Delete(root, true);
        }
        Assert.That(CompiledEdges(typeof(OpFolderGraphTests).Assembly),
            Is.EquivalentTo(new[] { "Lstm → Linear (Dfer.Ops.Lstm.PlantedEdge)" }));
    }

    /// <summary>Folder of a namespace under Dfer.Ops (Dfer.Ops.X or Dfer.Ops.X.Sub → X); null for Dfer.Ops itself and
    /// everything else.</summary>
    private static string? Folder(string? ns)
    {
        if (ns == null || !ns.StartsWith(OpsPrefix, StringComparison.Ordinal)) return null;
        string rest = ns[OpsPrefix.Length..];
        int dot = rest.IndexOf('.');
        return dot < 0 ? rest : rest[..dot];
    }

    internal static List<string> SourceEdges(string opsDir)
    {
        var edges = new SortedSet<string>(StringComparer.Ordinal);
        foreach (string dir in Directory.GetDirectories(opsDir).Order(StringComparer.Ordinal))
        {
            string folder = Path.GetFileName(dir);
            foreach (string file in Directory.GetFiles(dir, "*.cs", SearchOption.AllDirectories)
                .Order(StringComparer.Ordinal))
                foreach (Match m in QualifiedOp().Matches(File.ReadAllText(file)))
                    if (m.Groups[1].Value != folder)
                        edges.Add($"{folder} → {m.Groups[1].Value} ({Path.GetRelativePath(dir, file)})");
        }
        return edges.ToList();
    }

    [GeneratedRegex(@"\bDfer\.Ops\.([A-Za-z_][A-Za-z0-9_]*)")]
    private static partial Regex QualifiedOp();

    internal static List<string> CompiledEdges(Assembly assembly)
    {
        var edges = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var type in assembly.GetTypes())
        {
            string? from = Folder(type.Namespace);
            if (from == null) continue;
            foreach (var used in Referenced(type))
            {
                string? to = Folder(used.Namespace);
                if (to != null && to != from) edges.Add($"{from} → {to} ({OuterName(type)})");
            }
        }
        return edges.ToList();
    }

    private static string OuterName(Type t)
    {
        while (t.DeclaringType != null) t = t.DeclaringType;
        return t.FullName!;
    }

    private const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance
        | BindingFlags.Static | BindingFlags.DeclaredOnly;

    /// <summary>Types named by <paramref name="type"/>: base, interfaces, fields, properties, method and constructor
    /// signatures, and the IL of their bodies.</summary>
    private static IEnumerable<Type> Referenced(Type type)
    {
        var found = new HashSet<Type>();
        void Add(Type? t)
        {
            if (t == null || !found.Add(t)) return;
            if (t.HasElementType) Add(t.GetElementType());
            if (t.IsGenericType && !t.IsGenericTypeDefinition) foreach (var a in t.GetGenericArguments()) Add(a);
        }
        Add(type.BaseType);
        foreach (var i in type.GetInterfaces()) Add(i);
        foreach (var f in type.GetFields(All)) Add(f.FieldType);
        foreach (var p in type.GetProperties(All)) Add(p.PropertyType);
        foreach (var m in type.GetMethods(All).Cast<MethodBase>().Concat(type.GetConstructors(All)))
        {
            if (m is MethodInfo mi) Add(mi.ReturnType);
            foreach (var p in m.GetParameters()) Add(p.ParameterType);
            foreach (var t in BodyTypes(m)) Add(t);
        }
        return found;
    }

    private static readonly Dictionary<short, OpCode> Codes = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static).Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(c => c.Value);

    /// <summary>Declaring types of the methods and fields, and the types, that <paramref name="m"/>'s IL
    /// names.</summary>
    private static IEnumerable<Type> BodyTypes(MethodBase m)
    {
        byte[]? il = m.GetMethodBody()?.GetILAsByteArray();
        if (il == null) yield break;
        Type[]? typeArgs = m.DeclaringType is { IsGenericType: true } d ? d.GetGenericArguments() : null;
        Type[]? methodArgs = m.IsGenericMethod ? m.GetGenericArguments() : null;
        int at = 0;
        while (at < il.Length)
        {
            short value = il[at] == 0xFE ? (short)(0xFE00 | il[at + 1]) : il[at];
            at += il[at] == 0xFE ? 2 : 1;
            var code = Codes[value];
            int size = code.OperandType switch
            {
                OperandType.InlineNone => 0,
                OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                OperandType.InlineVar => 2,
                OperandType.InlineI8 or OperandType.InlineR => 8,
                OperandType.InlineSwitch => 4 + 4 * BitConverter.ToInt32(il, at),
                _ => 4,
            };
            if (code.OperandType is OperandType.InlineMethod or OperandType.InlineField or OperandType.InlineType
                or OperandType.InlineTok)
            {
                int token = BitConverter.ToInt32(il, at);
                MemberInfo? member = null;
                try { member = m.Module.ResolveMember(token, typeArgs, methodArgs); }
                catch (ArgumentException) { }
                switch (member)
                {
                    case Type t: yield return t; break;
                    case FieldInfo f: yield return f.DeclaringType!; yield return f.FieldType; break;
                    case MethodBase mb:
                        yield return mb.DeclaringType!;
                        if (mb is MethodInfo mi) yield return mi.ReturnType;
                        foreach (var p in mb.GetParameters()) yield return p.ParameterType;
                        break;
                }
            }
            at += size;
        }
    }
}
