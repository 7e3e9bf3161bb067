using System.Text;

namespace Dfer.Weights;

/// <summary>
/// Opening and writing the user's files so that every failure surfaces as a one-line
/// <see cref="DferException"/> naming the file, never as a raw IO exception.
/// </summary>
internal static class UserFile
{
    /// <summary>Opens <paramref name="path"/> for reading, translating the usual failures.</summary>
    internal static FileStream OpenRead(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw Fail(path, "no such file", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            // On Unix opening a directory reports "access denied", which would send the user
            // hunting for a permissions problem that is not there.
            throw Fail(path, Directory.Exists(path) ? "is a directory, not a file" : "permission denied", ex);
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or NotSupportedException)
        {
            throw Fail(path, $"cannot open: {OneLine(ex.Message)}", ex);
        }
    }

    /// <summary>Creates (or truncates) <paramref name="path"/> for writing.</summary>
    internal static FileStream Create(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        try
        {
            return new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw Fail(path, $"cannot create: {OneLine(ex.Message)}", ex);
        }
    }

    /// <summary>The house-style "path: problem" error, keeping the cause for debugging.</summary>
    internal static DferException Fail(string path, string problem, Exception? inner = null) =>
        inner is null ? DferException.ForFile(path, problem) : new DferException($"{path}: {problem}", inner);

    /// <summary>Collapses a message that may span lines (some OS errors do) onto one line.</summary>
    internal static string OneLine(string message) =>
        string.Join(' ', message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>
    /// Quotes a name taken from a file for an error message. Names are arbitrary strings, and one
    /// containing a newline or other control character would break the one-line message.
    /// </summary>
    internal static string Quote(string name)
    {
        bool plain = true;
        foreach (char c in name)
        {
            if (char.IsControl(c)) { plain = false; break; }
        }
        if (plain) return $"'{name}'";

        var sb = new StringBuilder(name.Length + 8).Append('\'');
        foreach (char c in name)
        {
            if (char.IsControl(c)) sb.Append($"\\u{(int)c:x4}");
            else sb.Append(c);
        }
        return sb.Append('\'').ToString();
    }

    /// <summary>The most characters of a name taken from a file that <see cref="QuoteCapped"/> keeps.</summary>
    internal const int MaxQuotedChars = 200;

    /// <summary>
    /// <see cref="Quote"/> for names and values whose length is the file's choice: at most
    /// <paramref name="maxChars"/> characters are written between the quotes (escapes included),
    /// and a longer name ends in "..." and its length, so that no error message can grow with the file.
    /// </summary>
    internal static string QuoteCapped(string name, int maxChars = MaxQuotedChars)
    {
        var sb = new StringBuilder(Math.Min(name.Length, maxChars) + 32).Append('\'');
        int i = 0;
        for (; i < name.Length && sb.Length - 1 < maxChars; i++)
        {
            char c = name[i];
            if (char.IsControl(c)) sb.Append($"\\u{(int)c:x4}");
            // Do not cut a surrogate pair in half.
            else if (char.IsHighSurrogate(c) && i + 1 < name.Length && char.IsLowSurrogate(name[i + 1]))
            {
                if (sb.Length + 1 > maxChars) break;
                sb.Append(c).Append(name[++i]);
            }
            else sb.Append(c);
        }
        sb.Append('\'');
        if (i < name.Length) sb.Append($"... ({name.Length} characters)");
        return sb.ToString();
    }
}
