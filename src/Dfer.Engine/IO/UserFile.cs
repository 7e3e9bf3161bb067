namespace Dfer.IO;

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
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException
            or NotSupportedException)
        {
            throw Fail(path, $"cannot create: {OneLine(ex.Message)}", ex);
        }
    }

    /// <summary>The house-style "path: problem" error, keeping the cause for debugging.</summary>
    internal static DferException Fail(string path, string problem, Exception? inner = null) =>
        inner is null ? DferException.ForFile(path, problem) : new DferException($"{path}: {problem}", inner);

    /// <summary>Collapses a message that may span lines (some OS errors do) onto one line.</summary>
    internal static string OneLine(string message) =>
        string.Join(' ',
            message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>
    /// The whole of <paramref name="path"/>, refusing more than <paramref name="limit"/> bytes
    /// whatever the file system says its length is: a device or a pipe reports 0, and a file may grow
    /// while it is read. <paramref name="overLimit"/> words the problem, given the file's length
    /// where it is known (null for a stream that reported none).
    /// </summary>
    internal static byte[] ReadAllBytes(string path, long limit, Func<long?, string> overLimit)
    {
        using FileStream stream = OpenRead(path);
        try
        {
            if (stream.CanSeek && stream.Length > limit) throw DferException.ForFile(path, overLimit(stream.Length));
            var buffer = new MemoryStream(stream.CanSeek ? (int)stream.Length : 0);
            var chunk = new byte[81920];
            int got;
            while ((got = stream.Read(chunk, 0, (int)Math.Min(chunk.Length, limit + 1 - buffer.Length))) > 0)
            {
                buffer.Write(chunk, 0, got);
                if (buffer.Length > limit) throw DferException.ForFile(path, overLimit(null));
            }
            return buffer.ToArray();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw Fail(path, $"cannot read: {OneLine(ex.Message)}", ex);
        }
    }
}
