using System.Text;
using System.Text.Json;

namespace Dfer;

/// <summary>
/// JSON read from users' files (TF.js manifests, results files and their metadata), checked once
/// after parsing so that reading it later cannot throw anything but a <see cref="DferException"/>.
/// </summary>
public static class JsonText
{
    /// <summary>
    /// Reads every property name and string of a JSON document once, so that none fails later.
    /// System.Text.Json checks a string's UTF-8 bytes and escapes only when it is read: GetString,
    /// and TryGetProperty on an object whose names hold escapes, throw InvalidOperationException
    /// on bytes that are not UTF-8 or on an escaped lone surrogate such as <c>\ud800</c>. Here that
    /// is the file's error, naming where it is (a JSONPath such as <c>$[0].weights[2].name</c>).
    /// </summary>
    public static void Check(string file, JsonElement root)
    {
        if (InvalidText(root) is { } problem) throw DferException.ForFile(file, problem);
    }

    /// <summary>
    /// Null when every name and string of <paramref name="root"/> reads; otherwise the problem and
    /// where it is ("text that is not valid Unicode ... at $[0].weights[2].name").
    /// </summary>
    public static string? InvalidText(JsonElement root)
    {
        // The way down to the element being read: array indices, or property names (null while the
        // name itself is being read). JsonDocument nests at most 64 deep, so recursion is bounded.
        var path = new List<(int Index, string? Name)>();
        try
        {
            Walk(root, path);
        }
        catch (InvalidOperationException)
        {
            bool inName = path.Count > 0 && path[^1].Index < 0 && path[^1].Name is null;
            var at = new StringBuilder("$");
            foreach (var (index, name) in inName ? path.SkipLast(1) : path)
                at.Append(index >= 0 ? $"[{index}]" : $".{SafeText.Plain(name!, 40)}");
            return $"text that is not valid Unicode (bytes that are not UTF-8, or an escaped lone surrogate) "
                + $"{(inName ? "in a property name at" : "at")} {SafeText.Plain(at.ToString(), 200)}";
        }
        return null;

        static void Walk(JsonElement e, List<(int Index, string? Name)> path)
        {
            switch (e.ValueKind)
            {
                case JsonValueKind.String:
                    e.GetString();
                    break;
                case JsonValueKind.Array:
                    int i = 0;
                    foreach (JsonElement item in e.EnumerateArray())
                    {
                        path.Add((i++, null));
                        Walk(item, path);
                        path.RemoveAt(path.Count - 1);
                    }
                    break;
                case JsonValueKind.Object:
                    foreach (JsonProperty p in e.EnumerateObject())
                    {
                        path.Add((-1, null));
                        path[^1] = (-1, p.Name);
                        Walk(p.Value, path);
                        path.RemoveAt(path.Count - 1);
                    }
                    break;
            }
        }
    }
}
