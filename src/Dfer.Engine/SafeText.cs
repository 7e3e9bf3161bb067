using System.Globalization;
using System.Text;

namespace Dfer;

/// <summary>
/// Text taken from users' files, paths and command lines, made inert for a one-line message or a
/// terminal, which acts on what such text may hold: ESC starts CSI and OSC sequences (colours,
/// cursor moves, window titles, hyperlinks), the C1 controls U+0080..U+009F are their one-character
/// forms on some terminals, and bidirectional overrides (U+202A..U+202E, U+2066..U+2069) reorder
/// what is shown. Every such character is written visibly as an escape instead (<c>\x1b</c>,
/// <c>\u202e</c>), and text is cut at a given length with a note of how much was left out. Every
/// <see cref="DferException"/> message, every quoted name and every line the CLI prints goes
/// through here (docs/limits.md).
/// </summary>
public static class SafeText
{
    /// <summary>The most characters of one name or value taken from a file that <see cref="Quote"/> shows.</summary>
    public const int MaxQuotedChars = 200;

    /// <summary>Room kept at the end of a cut line for "… (N more characters)".</summary>
    private const int CutNoteLength = 32;

    /// <summary>
    /// <paramref name="text"/> on one line, escaped (see <see cref="SafeText"/>), and if longer than
    /// <paramref name="max"/> characters cut and ended with "… (N more characters)", N counting the
    /// characters of <paramref name="text"/> not shown. The result has at most <paramref name="max"/>
    /// characters (for a max under 64: half of it and the note).
    /// </summary>
    public static string Line(string text, int max)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 8);
        int length = 0;
        for (int i = 0; i < text.Length && length <= max; i += Unit(text, i)) length += Escaped(text, i).Length;
        if (length <= max) return Escape(text);

        var line = new StringBuilder(max);
        // A short max (a value quoted inside a longer message) keeps half of it for the text.
        int budget = Math.Max(max - CutNoteLength, max / 2), at = 0;
        while (at < text.Length)
        {
            string piece = Escaped(text, at);
            if (line.Length + piece.Length > budget) break;
            line.Append(piece);
            at += Unit(text, at);
        }
        return line.Append($"… ({text.Length - at} more characters)").ToString();
    }

    /// <summary>
    /// A name or value taken from a file, for a message: <see cref="Line"/> of at most
    /// <paramref name="maxChars"/> characters, between single quotes.
    /// </summary>
    public static string Quote(string text, int maxChars = MaxQuotedChars) => $"'{Line(text, maxChars)}'";

    /// <summary><see cref="Line"/> without quotes, for text shown inside a message (a path, a parser's
    /// error).</summary>
    public static string Plain(string text, int maxChars = MaxQuotedChars) => Line(text, maxChars);

    /// <summary><paramref name="text"/> with every character a terminal could act on written as a visible
    /// escape.</summary>
    public static string Escape(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int i = 0;
        while (i < text.Length && Escaped(text, i).Length == Unit(text, i)) i += Unit(text, i);
        if (i == text.Length) return text;
        var sb = new StringBuilder(text.Length + 16).Append(text, 0, i);
        for (; i < text.Length; i += Unit(text, i)) sb.Append(Escaped(text, i));
        return sb.ToString();
    }

    /// <summary>Whether <paramref name="c"/> is written as an escape (a lone surrogate is too).</summary>
    public static bool IsUnsafe(char c) => c switch
    {
        < '\u0020' or '\u007f' => true,               // C0 controls (ESC among them) and DEL
        >= '\u0080' and <= '\u009f' => true,          // C1 controls: CSI (U+009B), OSC (U+009D), ...
        _ => char.GetUnicodeCategory(c) is UnicodeCategory.Format       // bidi overrides and isolates, zero-width marks
            or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator or UnicodeCategory.Control,
    };

    /// <summary>UTF-16 units of the character at <paramref name="i"/>: 2 for a surrogate pair, else 1.</summary>
    private static int Unit(string text, int i) =>
        char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;

    /// <summary>How the character at <paramref name="i"/> is written.</summary>
    private static string Escaped(string text, int i)
    {
        char c = text[i];
        if (Unit(text, i) == 2) return text.Substring(i, 2);
        if (char.IsSurrogate(c)) return $"\\u{(int)c:x4}";
        if (!IsUnsafe(c)) return c.ToString();
        return c switch
        {
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            <= '\u00ff' => $"\\x{(int)c:x2}",
            _ => $"\\u{(int)c:x4}",
        };
    }
}
