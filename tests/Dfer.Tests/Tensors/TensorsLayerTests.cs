using System.Reflection;
using System.Reflection.Emit;
using Dfer.Tensors;

namespace Dfer.Tests.Tensors;

/// <summary>
/// Tensors is the engine's bottom layer (above it: Devices, Weights and Media, then Ops, Backends,
/// Models, Runtime and Pipelines): no type in namespace Dfer.Tensors may use a type of a layer above
/// it, in its signatures or in its method bodies. Shared file reading lives in Dfer.IO, below both.
/// </summary>
[TestFixture]
public class TensorsLayerTests
{
    /// <summary>The namespaces above Tensors that it once reached (Npy read files through Weights).</summary>
    private static readonly string[] Above =
        ["Dfer.Weights", "Dfer.Media", "Dfer.Ops", "Dfer.Backends", "Dfer.Models", "Dfer.Runtime", "Dfer.Pipelines"];

    private static readonly Assembly Engine = typeof(Npy).Assembly;

    [Test]
    public void NoTensorsTypeReferencesALayerAboveIt()
    {
        var tensors = Engine.GetTypes().Where(t => t.Namespace == "Dfer.Tensors").ToList();
        Assert.That(tensors, Has.Count.GreaterThan(3), "the scan found the Tensors types");
        var offences = new List<string>();
        foreach (Type t in tensors)
            foreach (Type used in ReferencedTypes(t))
                if (Above.Any(ns => InNamespace(used, ns)))
                    offences.Add($"{t.FullName} uses {used.FullName}");
        Assert.That(offences.Distinct(), Is.Empty);
    }

    /// <summary>The scan sees references made only inside method bodies: Npy's use of UserFile, SafetensorsFile's of
    /// Tensors.</summary>
    [Test]
    public void TheScan_SeesMethodBodyReferences()
    {
        Assert.That(ReferencedTypes(typeof(Npy)).Select(t => t.FullName), Does.Contain("Dfer.IO.UserFile"));
        Type safetensors = typeof(Dfer.Weights.SafetensorsFile);
        Assert.That(ReferencedTypes(safetensors).Any(t => InNamespace(t, "Dfer.Tensors")),
            "Weights uses Tensors, so the scan must see it");
    }

    private static bool InNamespace(Type t, string ns) =>
        t.Namespace is string n && (n == ns || n.StartsWith(ns + ".", StringComparison.Ordinal));

    private const BindingFlags Everything = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance
        | BindingFlags.Static | BindingFlags.DeclaredOnly;

    /// <summary>Every type <paramref name="type"/> (and its nested types) names: base, interfaces, fields, signatures,
    /// attributes, IL operands.</summary>
    private static HashSet<Type> ReferencedTypes(Type type)
    {
        var found = new HashSet<Type>();
        void Add(Type? t)
        {
            if (t is null) return;
            if (t.HasElementType) { Add(t.GetElementType()); return; }
            if (t.IsGenericType && !t.IsGenericTypeDefinition)
            {
                Add(t.GetGenericTypeDefinition());
                foreach (Type a in t.GetGenericArguments()) Add(a);
                return;
            }
            if (!t.IsGenericParameter) found.Add(t);
        }
        foreach (Type t in new[] { type }.Concat(type.GetNestedTypes(Everything)))
        {
            Add(t.BaseType);
            foreach (Type i in t.GetInterfaces()) Add(i);
            foreach (var a in t.CustomAttributes) Add(a.AttributeType);
            foreach (FieldInfo f in t.GetFields(Everything)) Add(f.FieldType);
            foreach (PropertyInfo p in t.GetProperties(Everything)) Add(p.PropertyType);
            foreach (MethodBase m in t.GetMethods(Everything).Cast<MethodBase>().Concat(t.GetConstructors(Everything)))
            {
                if (m is MethodInfo mi) Add(mi.ReturnType);
                foreach (ParameterInfo p in m.GetParameters()) Add(p.ParameterType);
                MethodBody? body = m.GetMethodBody();
                if (body is null) continue;
                foreach (LocalVariableInfo l in body.LocalVariables) Add(l.LocalType);
                foreach (Type operand in IlOperandTypes(m, body.GetILAsByteArray() ?? [])) Add(operand);
            }
            if (t != type) foreach (Type n in ReferencedTypes(t)) found.Add(n);
        }
        return found;
    }

    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static).Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    /// <summary>The types named by the IL's type, field, method and token operands.</summary>
    private static IEnumerable<Type> IlOperandTypes(MethodBase method, byte[] il)
    {
        Module module = method.Module;
        Type[]? typeArgs = method.DeclaringType is { IsGenericType: true } d ? d.GetGenericArguments() : null;
        Type[]? methodArgs = method.IsGenericMethod ? method.GetGenericArguments() : null;
        for (int i = 0; i < il.Length;)
        {
            short value = il[i] == 0xFE ? (short)(0xFE00 | il[i + 1]) : il[i];
            i += il[i] == 0xFE ? 2 : 1;
            OpCode op = OpCodesByValue[value];
            switch (op.OperandType)
            {
                case OperandType.InlineType or OperandType.InlineField or OperandType.InlineMethod
                    or OperandType.InlineTok:
                    MemberInfo? member = module.ResolveMember(BitConverter.ToInt32(il, i), typeArgs, methodArgs);
                    if (member is Type t) yield return t;
                    else if (member is not null)
                    {
                        if (member.DeclaringType is Type owner) yield return owner;
                        if (member is FieldInfo f) yield return f.FieldType;
                        if (member is MethodInfo m) yield return m.ReturnType;
                    }
                    i += 4;
                    break;
                case OperandType.InlineSwitch:
                    i += 4 + 4 * BitConverter.ToInt32(il, i);
                    break;
                case OperandType.InlineNone: break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                    i += 1; break;
                case OperandType.InlineVar: i += 2; break;
                case OperandType.InlineI8 or OperandType.InlineR: i += 8; break;
                default: i += 4; break;   // InlineBrTarget, InlineI, InlineSig, InlineString, ShortInlineR
            }
        }
    }
}
