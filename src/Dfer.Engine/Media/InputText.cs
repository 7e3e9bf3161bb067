using System.Text;
using Dfer.Weights;

namespace Dfer.Media;

/// <summary>
/// Text taken from a user's file (a name, a value, a line) made safe for a one-line error: cut to a
/// bounded length and with control characters escaped, so that a hostile file can neither flood the
/// terminal nor reach it with escape sequences.
/// </summary>
internal static class InputText
{
    /// <summary>The most characters of one piece of file text shown in a message.</summary>
    internal const int MaxShownChars = 80;

    /// <summary><see cref="UserFile.Quote"/> of <paramref name="text"/> cut to <paramref name="maxChars"/> characters ("..." marks a cut).</summary>
    internal static string Quote(string text, int maxChars = MaxShownChars) => UserFile.Quote(Cut(text, maxChars));

    /// <summary>
    /// <paramref name="text"/> cut to <paramref name="maxChars"/> characters, never between the two
    /// halves of a surrogate pair, ending in "..." when cut; control characters escaped as \uXXXX.
    /// </summary>
    internal static string Plain(string text, int maxChars = MaxShownChars)
    {
        string cut = Cut(text, maxChars);
        if (!cut.Any(char.IsControl)) return cut;
        var sb = new StringBuilder(cut.Length + 16);
        foreach (char c in cut)
        {
            if (char.IsControl(c)) sb.Append($"\\u{(int)c:x4}");
            else sb.Append(c);
        }
        return sb.ToString();
    }

    private static string Cut(string text, int maxChars)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length <= maxChars) return text;
        int keep = Math.Max(0, maxChars - 3);
        if (keep > 0 && char.IsHighSurrogate(text[keep - 1])) keep--;
        return string.Concat(text.AsSpan(0, keep), "...");
    }
}
