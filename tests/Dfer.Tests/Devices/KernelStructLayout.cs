using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace Dfer.Tests.Devices;

/// <summary>
/// Checks that a C# kernel-argument struct mirrors a by-value struct declared in a .cu source: same
/// fields in the same order, same sizes and natural-alignment offsets, same total size. The kernels
/// read the bytes the host marshals, so a drift here is a silent wrong answer on the GPU.
/// </summary>
internal static class KernelStructLayout
{
    /// <summary>
    /// Asserts <typeparamref name="T"/> mirrors <c>struct <paramref name="structName"/></c> in
    /// <paramref name="source"/>. <paramref name="sizeOf"/> gives a non-pointer C type's size (throw
    /// for unexpected ones); <paramref name="csharpName"/> maps field index and C name to the expected
    /// lower-case C# field name.
    /// </summary>
    public static void AssertMirrors<T>(string source, string structName, Func<string, int> sizeOf, Func<int, string,
        string> csharpName) where T : struct
    {
        Match body = Regex.Match(source, $@"struct\s+{structName}\s*\{{(?<b>[^}}]*)\}}");
        Assert.That(body.Success, $"the source declares struct {structName}");
        string text = Regex.Replace(body.Groups["b"].Value, @"//[^\n]*", "");
        var fields = new List<(int Size, string Name)>();
        foreach (string decl in text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            Match m = Regex.Match(decl, @"^(?:const\s+)?(?<t>[A-Za-z_:0-9]+\s*\*?)\s*(?<names>.+)$",
                RegexOptions.Singleline);
            Assert.That(m.Success, $"cannot read '{decl}'");
            string type = m.Groups["t"].Value.Replace(" ", "");
            foreach (string raw in m.Groups["names"].Value.Split(','))
            {
                string name = raw.Trim();
                int size = type.EndsWith('*') || name.StartsWith('*') ? 8 : sizeOf(type.Replace("dfer::", ""));
                fields.Add((size, name.TrimStart('*').Trim()));
            }
        }
        FieldInfo[] csharp = typeof(T).GetFields();
        Assert.That(csharp.Length, Is.EqualTo(fields.Count), string.Join(", ", fields.Select(f => f.Name)));
        int offset = 0;
        for (int i = 0; i < fields.Count; i++)
        {
            int size = fields[i].Size;
            offset = (offset + size - 1) / size * size;
            Assert.That((int)Marshal.OffsetOf<T>(csharp[i].Name), Is.EqualTo(offset),
                $"field {i} ({fields[i].Name} vs {csharp[i].Name})");
            Assert.That(Marshal.SizeOf(csharp[i].FieldType), Is.EqualTo(size), $"field {i} ({fields[i].Name}) size");
            Assert.That(csharp[i].Name.ToLowerInvariant(), Is.EqualTo(csharpName(i, fields[i].Name)),
                $"field {i} name");
            offset += size;
        }
        Assert.That(Marshal.SizeOf<T>(), Is.EqualTo((offset + 7) / 8 * 8));
    }
}
