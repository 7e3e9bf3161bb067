using System.Text;

namespace Dfer;

/// <summary>
/// An error caused by something the user handed us (a file, a tensor, an option), carrying a
/// one-line message that names the culprit and the problem. The CLI prints it as is and exits
/// non-zero; anything else escaping is a bug in Dfer.
/// </summary>
/// <remarks>
/// Messages quote what they find in files (names, values, parser errors), and a file can hold
/// anything: terminal escape sequences, newlines, megabytes of text. So every message is made safe
/// here, once, whoever built it: control and text-direction characters are written as
/// <c>\uXXXX</c>, and a message longer than <see cref="MaxMessageChars"/> is cut with a note of how
/// much was left out (docs/limits.md).
/// </remarks>
public class DferException : Exception
{
    /// <summary>The longest message kept; the rest is replaced by "… (N more characters)".</summary>
    public const int MaxMessageChars = 1000;

    public DferException(string message) : base(Clean(message)) { }
    public DferException(string message, Exception inner) : base(Clean(message), inner) { }

    /// <summary>"{path}: {problem}" — the house style for errors about a file.</summary>
    public static DferException ForFile(string path, string problem) => new($"{path}: {problem}");

    /// <summary>
    /// <paramref name="message"/> as one printable line of at most <see cref="MaxMessageChars"/>
    /// characters (plus the note of what was cut): control characters (C0, DEL, C1: newlines, ESC of
    /// terminal sequences) and the Unicode bidirectional controls, which can make a terminal show text
    /// in another order than it has, become <c>\uXXXX</c>.
    /// </summary>
    public static string Clean(string? message)
    {
        message ??= "";
        bool clean = message.Length <= MaxMessageChars;
        if (clean)
        {
            foreach (char c in message)
            {
                if (NeedsEscape(c)) { clean = false; break; }
            }
        }
        if (clean) return message;

        var sb = new StringBuilder(Math.Min(message.Length, MaxMessageChars) + 32);
        int i = 0;
        for (; i < message.Length && sb.Length < MaxMessageChars; i++)
        {
            char c = message[i];
            if (NeedsEscape(c)) sb.Append($"\\u{(int)c:x4}");
            else sb.Append(c);
        }
        if (i < message.Length) sb.Append($"… ({message.Length - i} more characters)");
        return sb.ToString();
    }

    private static bool NeedsEscape(char c) =>
        char.IsControl(c)
        || c is >= '\u202A' and <= '\u202E' // LRE, RLE, PDF, LRO, RLO
        || c is >= '\u2066' and <= '\u2069' // LRI, RLI, FSI, PDI
        || c is '\u200E' or '\u200F' or '\u061C'; // LRM, RLM, ALM
}
