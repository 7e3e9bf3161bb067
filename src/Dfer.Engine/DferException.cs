namespace Dfer;

/// <summary>
/// An error caused by something the user handed us (a file, a tensor, an option), carrying a
/// one-line message that names the culprit and the problem. The CLI prints it as is and exits
/// non-zero; anything else escaping is a bug in Dfer.
/// </summary>
public class DferException : Exception
{
    public DferException(string message) : base(message) { }
    public DferException(string message, Exception inner) : base(message, inner) { }

    /// <summary>"{path}: {problem}" — the house style for errors about a file.</summary>
    public static DferException ForFile(string path, string problem) => new($"{path}: {problem}");
}
