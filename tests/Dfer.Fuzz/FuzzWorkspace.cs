using System.Diagnostics;

namespace Dfer.Fuzz;

/// <summary>
/// A private folder for one process's fuzz inputs: in /dev/shm when there is one (inputs are
/// written and read thousands of times a second), else in the temp folder. Folders of processes
/// that are gone (a fuzz run ends by being killed) are removed when the next one is made.
/// </summary>
public sealed class FuzzWorkspace : IDisposable
{
    private const string Prefix = "dfer-fuzz-";

    private bool _dfewReady;

    private FuzzWorkspace(string directory) { Directory = directory; }

    /// <summary>The folder's full path.</summary>
    public string Directory { get; }

    public static FuzzWorkspace Create()
    {
        string parent = System.IO.Directory.Exists("/dev/shm") ? "/dev/shm" : Path.GetTempPath();
        RemoveStale(parent);
        string name = $"{Prefix}{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}";
        string dir = Path.Combine(parent, name);
        try
        {
            System.IO.Directory.CreateDirectory(dir);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            dir = Path.Combine(Path.GetTempPath(), name);
            System.IO.Directory.CreateDirectory(dir);
        }
        return new FuzzWorkspace(dir);
    }

    /// <summary>
    /// Writes <paramref name="bytes"/> to <paramref name="name"/> (relative to the folder) as a new
    /// file: the old one is unlinked first, so a mapping that a parser failed to release keeps the
    /// old bytes instead of seeing its file shrink under it (which would be SIGBUS, not a finding).
    /// </summary>
    public string WriteInput(string name, ReadOnlySpan<byte> bytes)
    {
        string path = Path.Combine(Directory, name);
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.Delete(path);
        using (var f = new FileStream(path, FileMode.CreateNew, FileAccess.Write))
            f.Write(bytes);
        return path;
    }

    /// <summary>A DFEW root whose clip folder holds videos 00001 and 00002 (frame folders) and 00003.mp4.</summary>
    public string DfewRoot()
    {
        string root = Path.Combine(Directory, "dfew");
        if (!_dfewReady)
        {
            string clips = Path.Combine(root, "Clip", "clip_224x224");
            System.IO.Directory.CreateDirectory(Path.Combine(clips, "00001"));
            System.IO.Directory.CreateDirectory(Path.Combine(clips, "00002"));
            File.WriteAllBytes(Path.Combine(clips, "00003.mp4"), []);
            _dfewReady = true;
        }
        return root;
    }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Best effort: the next workspace removes it once this process is gone.
        }
    }

    private static void RemoveStale(string parent)
    {
        try
        {
            foreach (string dir in System.IO.Directory.EnumerateDirectories(parent, Prefix + "*"))
            {
                string rest = Path.GetFileName(dir)[Prefix.Length..];
                int dash = rest.IndexOf('-');
                if (dash <= 0 || !int.TryParse(rest[..dash], out int pid) || pid == Environment.ProcessId
                    || IsRunning(pid)) continue;
                System.IO.Directory.Delete(dir, recursive: true);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Another process may be cleaning up at the same time; stale folders are harmless.
        }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using Process p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
