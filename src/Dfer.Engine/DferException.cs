namespace Dfer;

/// <summary>
/// An error caused by something the user handed us (a file, a tensor, an option), carrying a
/// one-line message that names the culprit and the problem. The CLI prints it as is and exits
/// non-zero; anything else escaping is a bug in Dfer.
/// </summary>
/// <remarks>
/// Messages quote what they find in files (names, values, parser errors), and a file can hold
/// anything: terminal escape sequences, newlines, megabytes of text. So every message is made safe
/// here, once, whoever built it: control and text-direction characters are written as visible
/// escapes (<see cref="SafeText"/>), and a message longer than <see cref="MaxMessageChars"/> is cut with a note of how
/// much was left out (docs/limits.md).
/// </remarks>
public class DferException : Exception
{
    /// <summary>The longest message, the note "… (N more characters)" on what was cut included.</summary>
    public const int MaxMessageChars = 1000;

    public DferException(string message) : base(Clean(message)) { Lines = [Message]; }
    public DferException(string message, Exception inner) : base(Clean(message), inner) { Lines = [Message]; }

    private DferException(IReadOnlyList<string> lines)
        : base(Clean(string.Join("; ", lines)))
    {
        Lines = lines.Select(Clean).ToArray();
    }

    /// <summary>The message as the CLI prints it, one line per problem: usually the one line of
    /// <see cref="Exception.Message"/>; several where an input has several problems found at once
    /// (<see cref="Several"/>).</summary>
    public IReadOnlyList<string> Lines { get; }

    /// <summary>The most lines <see cref="Several"/> keeps; the last one kept also counts the rest.</summary>
    public const int MaxLines = 24;

    /// <summary>One error with several problems, each a line of its own (each line names the input, in the house
    /// style of <see cref="ForFile"/>); <see cref="Exception.Message"/> joins them with "; ".</summary>
    public static DferException Several(IReadOnlyList<string> lines)
    {
        ArgumentNullException.ThrowIfNull(lines);
        if (lines.Count == 0) throw new ArgumentException("no problems to report", nameof(lines));
        if (lines.Count == 1) return new DferException(lines[0]);
        if (lines.Count <= MaxLines) return new DferException(lines);
        // The count goes on the last line kept, not on a line of its own, so that every line still names its input.
        int rest = lines.Count - MaxLines;
        return new DferException(
            [.. lines.Take(MaxLines - 1), $"{lines[MaxLines - 1]} (and {rest} more problem{(rest == 1 ? "" : "s")})"]);
    }

    /// <summary>"{path}: {problem}" — the house style for errors about a file.</summary>
    public static DferException ForFile(string path, string problem) => new($"{path}: {problem}");

    /// <summary><paramref name="message"/> as one printable line of at most <see cref="MaxMessageChars"/> characters
    /// (<see cref="SafeText.Line"/>).</summary>
    public static string Clean(string? message) => SafeText.Line(message ?? "", MaxMessageChars);
}
