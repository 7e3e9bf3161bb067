using Dfer.IO;

namespace Dfer.Media;

/// <summary>
/// A video stored as a folder of frame images (DFEW's form): the .jpg, .jpeg and .png files
/// (case-insensitive) in it, in frame order; other files are ignored.
/// </summary>
/// <remarks>
/// Order is by the integer that the last run of digits in the file name (extension excluded) spells,
/// so <c>9.jpg</c> precedes <c>10.jpg</c> and zero-padded names (DFEW's <c>00001.jpg</c>) keep the
/// order the official loader's name sort gives them; names with equal numbers are ordered by ordinal
/// name, and names without digits come first. Only the frames that are asked for are decoded.
/// </remarks>
internal sealed class FrameFolder
{
    private static readonly string[] Extensions = [".jpg", ".jpeg", ".png"];

    private FrameFolder(string path, string[] files)
    {
        Path = path;
        Files = files;
    }

    /// <summary>The folder as the user named it.</summary>
    public string Path { get; }

    /// <summary>The frame files in frame order (full paths).</summary>
    public IReadOnlyList<string> Files { get; }

    /// <summary>Lists the frames of <paramref name="path"/>.</summary>
    /// <exception cref="DferException">The folder is missing, unreadable, empty or holds no frame images.</exception>
    public static FrameFolder Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        string[] all;
        try
        {
            all = Directory.GetFiles(path);
        }
        catch (Exception ex) when (ex is DirectoryNotFoundException or FileNotFoundException)
        {
            throw UserFile.Fail(path, "no such folder", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw UserFile.Fail(path, "cannot list folder: permission denied", ex);
        }
        catch (Exception ex) when (ex is IOException or ArgumentException)
        {
            throw UserFile.Fail(path, $"cannot list folder: {UserFile.OneLine(ex.Message)}", ex);
        }

        if (all.Length == 0 && Directory.GetDirectories(path).Length == 0)
            throw DferException.ForFile(path, "the frame folder is empty");
        string[] frames = all.Where(IsFrameFile).ToArray();
        if (frames.Length == 0)
            throw DferException.ForFile(path, "no frame images (.jpg, .jpeg or .png) in the folder");
        Array.Sort(frames, CompareFrameNames);
        return new FrameFolder(path, frames);
    }

    /// <summary>Decodes frame <paramref name="index"/> (see <see cref="ImageDecoder"/>).</summary>
    public RgbImage Decode(int index) => ImageDecoder.Decode(Files[index]);

    private static bool IsFrameFile(string file)
    {
        string ext = System.IO.Path.GetExtension(file);
        return Extensions.Any(e => string.Equals(e, ext, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>By the number in the name, then by ordinal name (see the class remarks).</summary>
    internal static int CompareFrameNames(string a, string b)
    {
        string nameA = System.IO.Path.GetFileName(a), nameB = System.IO.Path.GetFileName(b);
        ReadOnlySpan<char> numA = LastNumber(System.IO.Path.GetFileNameWithoutExtension(a));
        ReadOnlySpan<char> numB = LastNumber(System.IO.Path.GetFileNameWithoutExtension(b));
        bool hasA = !numA.IsEmpty, hasB = !numB.IsEmpty;
        if (hasA != hasB) return hasA ? 1 : -1;
        if (hasA)
        {
            // Compared as digit strings, so that numbers of any length work without overflow.
            numA = numA.TrimStart('0');
            numB = numB.TrimStart('0');
            int c = numA.Length.CompareTo(numB.Length);
            if (c != 0) return c;
            c = numA.SequenceCompareTo(numB);
            if (c != 0) return c;
        }
        return string.CompareOrdinal(nameA, nameB);
    }

    /// <summary>The last run of ASCII digits in <paramref name="name"/>, or empty.</summary>
    private static ReadOnlySpan<char> LastNumber(string name)
    {
        int end = name.Length;
        while (end > 0 && !char.IsAsciiDigit(name[end - 1])) end--;
        int start = end;
        while (start > 0 && char.IsAsciiDigit(name[start - 1])) start--;
        return name.AsSpan(start, end - start);
    }
}
