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

    public DferException(string message) : base(Clean(message)) { }
    public DferException(string message, Exception inner) : base(Clean(message), inner) { }

    /// <summary>"{path}: {problem}" — the house style for errors about a file.</summary>
    public static DferException ForFile(string path, string problem) => new($"{path}: {problem}");

    /// <summary><paramref name="message"/> as one printable line of at most <see cref="MaxMessageChars"/> characters
    /// (<see cref="SafeText.Line"/>).</summary>
    public static string Clean(string? message) => SafeText.Line(message ?? "", MaxMessageChars);
}
